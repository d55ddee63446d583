#include "common/address.h"

#include <gtest/gtest.h>

namespace llorch {
namespace {

TEST(AddressTest, ParsesUnixSocketPaths) {
  absl::StatusOr<Address> address = ParseAddress("unix:/run/llorch/pool-agent.sock");
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_EQ(address->kind, Address::Kind::kUnix);
  EXPECT_EQ(address->path, "/run/llorch/pool-agent.sock");
  EXPECT_EQ(address->GrpcTarget(), "unix:/run/llorch/pool-agent.sock");
  EXPECT_TRUE(address->IsLocal());
}

TEST(AddressTest, AcceptsGrpcTripleSlashUnixForm) {
  absl::StatusOr<Address> address = ParseAddress("unix:///tmp/a.sock");
  ASSERT_TRUE(address.ok());
  EXPECT_EQ(address->path, "/tmp/a.sock");
}

TEST(AddressTest, ParsesHostPortAndIpv6) {
  absl::StatusOr<Address> v4 = ParseAddress("127.0.0.1:9200");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 9200);
  EXPECT_TRUE(v4->IsLocal());
  absl::StatusOr<Address> v6 = ParseAddress("[::1]:9200");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->GrpcTarget(), "[::1]:9200");
  EXPECT_TRUE(v6->IsLocal());
  absl::StatusOr<Address> any = ParseAddress("0.0.0.0:9200");
  ASSERT_TRUE(any.ok());
  EXPECT_FALSE(any->IsLocal());
}

TEST(AddressTest, RejectsMalformedAddressesWithTheExpectedForms) {
  for (const char* bad : {"", "unix:", "9200", ":9200", "host:", "host:-1", "host:65536",
                          "host:port", "::1:9200", "[::1]9200", "ho st:1", "a;b:1"}) {
    absl::StatusOr<Address> address = ParseAddress(bad);
    ASSERT_FALSE(address.ok()) << bad;
    EXPECT_EQ(address.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(address.status().message().find("expected unix:PATH, HOST:PORT"), std::string::npos)
        << address.status();
  }
}

TEST(AddressTest, MissingSocketDoesNotAccept) {
  EXPECT_FALSE(UnixSocketAccepts("/nonexistent/dir/agent.sock"));
  EXPECT_FALSE(UnixSocketAccepts(""));
}

}  // namespace
}  // namespace llorch
