// What the CLI does with its Hub settings next to a running agent's (client/hub_settings.h):
// which warnings it gives and when its token goes along with a request. And the rules for a
// token any caller passes (common/hub_env.h).
#include "client/hub_settings.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "common/hub_env.h"

namespace llorch {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kAgent[] = "agent at unix:/run/llorch/pool-agent.sock";
constexpr char kHub[] = "https://huggingface.co";

HubEnvironment Mine(const Environment& env) { return ReadHubEnvironment(env); }

TEST(HubHandOverTest, TheTokenGoesAlongToTheHubItIsForOverAConnectionThatMayCarryIt) {
  const HubHandOver plan =
      PlanHubHandOver(Mine({{"HF_TOKEN", "hf_operator_token"}}), kHub,
                      /*agent_offline=*/false, /*secrets_may_travel=*/true, kAgent);
  EXPECT_EQ(plan.token, "hf_operator_token");
  EXPECT_THAT(plan.warnings, IsEmpty());
  // Nothing to pass, nothing to say.
  EXPECT_EQ(PlanHubHandOver(Mine({}), kHub, false, true, kAgent).token, "");
}

TEST(HubHandOverTest, NeverOverPlaintextTcpToAnotherHost) {
  const HubHandOver plan = PlanHubHandOver(Mine({{"HF_TOKEN", "hf_operator_token"}}), kHub, false,
                                           /*secrets_may_travel=*/false, "agent at 10.0.0.7:9200");
  EXPECT_EQ(plan.token, "");
  ASSERT_EQ(plan.warnings.size(), 1u);
  EXPECT_THAT(plan.warnings[0],
              HasSubstr("not passing your Hub token (HF_TOKEN) to the agent at 10.0.0.7:9200: "
                        "the connection is plaintext TCP to another host"));
  EXPECT_THAT(plan.warnings[0], ::testing::Not(HasSubstr("hf_operator_token")));
}

// A token for huggingface.co never goes to a mirror the agent uses, nor the other way round.
TEST(HubHandOverTest, NeverToAHubItIsNotFor) {
  const HubHandOver mirror = PlanHubHandOver(Mine({{"HF_TOKEN", "hf_operator_token"}}),
                                             "https://hf-mirror.example", false, true, kAgent);
  EXPECT_EQ(mirror.token, "");
  EXPECT_THAT(mirror.warnings,
              ElementsAre(absl::StrCat(
                  "not passing your Hub token (HF_TOKEN) to the ", kAgent,
                  ": it is for https://huggingface.co, and the agent downloads from "
                  "https://hf-mirror.example; the agent uses its own token, if it has one")));
  const HubHandOver private_hub = PlanHubHandOver(
      Mine({{"HF_TOKEN", "hf_operator_token"}, {"HF_ENDPOINT", "https://hub.corp.example/"}}), kHub,
      false, true, kAgent);
  EXPECT_EQ(private_hub.token, "");
  ASSERT_EQ(private_hub.warnings.size(), 2u);
  EXPECT_EQ(private_hub.warnings[0],
            absl::StrCat("your HF_ENDPOINT is https://hub.corp.example, but the ", kAgent,
                         " downloads from https://huggingface.co: the Hub is the agent's (set "
                         "HF_ENDPOINT where it runs, or use --standalone to download from yours)"));
  // The same Hub spelt with a trailing slash is the same Hub.
  const HubHandOver same = PlanHubHandOver(
      Mine({{"HF_TOKEN", "hf_operator_token"}, {"HF_ENDPOINT", "https://huggingface.co/"}}), kHub,
      false, true, kAgent);
  EXPECT_EQ(same.token, "hf_operator_token");
  EXPECT_THAT(same.warnings, IsEmpty());
}

TEST(HubHandOverTest, WarnsWhenOfflineIsSetOtherwiseThanTheAgents) {
  EXPECT_THAT(PlanHubHandOver(Mine({{"HF_HUB_OFFLINE", "1"}}), kHub, false, true, kAgent).warnings,
              ElementsAre(absl::StrCat("your HF_HUB_OFFLINE says offline, but the ", kAgent,
                                       " is online: it reaches https://huggingface.co for what "
                                       "is not on disk (use --standalone to stay offline)")));
  EXPECT_THAT(PlanHubHandOver(Mine({{"HF_HUB_OFFLINE", "0"}}), kHub, true, true, kAgent).warnings,
              ElementsAre(HasSubstr("your HF_HUB_OFFLINE says online, but the agent at unix:/run/"
                                    "llorch/pool-agent.sock is offline (its HF_HUB_OFFLINE)")));
  // Unset here: the agent's setting is no surprise.
  EXPECT_THAT(PlanHubHandOver(Mine({}), kHub, true, true, kAgent).warnings, IsEmpty());
  EXPECT_THAT(PlanHubHandOver(Mine({{"HF_HUB_OFFLINE", "yes"}}), kHub, true, true, kAgent).warnings,
              IsEmpty());
}

TEST(HubHandOverTest, ATokenThatCannotTravelInAHeaderStaysHere) {
  const HubHandOver plan =
      PlanHubHandOver(Mine({{"HF_TOKEN", "hf_a b"}}), kHub, false, true, kAgent);
  EXPECT_EQ(plan.token, "");
  EXPECT_THAT(plan.warnings,
              ElementsAre(HasSubstr("a Hub token holds only printable ASCII characters")));
}

TEST(HubEnvironmentTest, SaysWhichSettingsAreSet) {
  const HubEnvironment none = ReadHubEnvironment({});
  EXPECT_EQ(none.endpoint, kHub);
  EXPECT_FALSE(none.endpoint_set);
  EXPECT_FALSE(none.offline_set);
  const HubEnvironment set = ReadHubEnvironment({{"HF_ENDPOINT", kHub}, {"HF_HUB_OFFLINE", "0"}});
  EXPECT_TRUE(set.endpoint_set);
  EXPECT_TRUE(set.offline_set);
  EXPECT_FALSE(set.offline);
}

TEST(HubEnvironmentTest, ATokenIsPrintableAsciiWithoutSpacesOfBoundedLength) {
  EXPECT_EQ(HubTokenProblem("hf_AbC123-_.~!"), "");
  EXPECT_EQ(HubTokenProblem(std::string(kMaxHubTokenLength, 'a')), "");
  for (const std::string& bad :
       {std::string(), std::string(kMaxHubTokenLength + 1, 'a'), std::string("hf_\r\nX-Evil: 1"),
        std::string("hf_\xc3\xa9"), std::string("hf_tab\t")}) {
    EXPECT_NE(HubTokenProblem(bad), "") << bad;
  }
}

}  // namespace
}  // namespace llorch
