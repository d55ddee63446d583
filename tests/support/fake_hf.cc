// A stand-in for the Hugging Face CLI's `hf download REPO FILE --local-dir DIR [--revision R]`,
// faithful to what llorch-pool relies on (huggingface_hub's cli/download.py, cli/hf.py,
// file_download.py and _local_folder.py):
//   - layout under DIR: .cache/huggingface/.gitignore ("*"), .cache/huggingface/download/ with
//     <file>.lock, the partial download <file>.<etag>.incomplete, and after success
//     <file>.metadata = "<commit>\n<etag>\n<unix time>\n"; the finished file is renamed to
//     DIR/<file> (an outdated DIR/<file> is removed before downloading);
//   - a DIR/<file> whose metadata etag (or, without metadata, SHA-256) matches is not fetched;
//   - only the size is checked, never the hash;
//   - HF_HUB_OFFLINE=1: no Hub at all; a DIR/<file> with metadata is returned as it is, anything
//     else is the LocalEntryNotFoundError the CLI reports as "Invalid value. ...";
//   - exit 0 on success (stdout: the file's path); 1 with "Error: <message>" and a "Hint:" line
//     on stderr for Hub errors; 2 with a click usage message for a command line it does not take.
// "The Hub" is a directory: $FAKE_HF_HUB/<owner>/<name>/<file>; the etag is the file's SHA-256
// (an LFS file; $FAKE_HF_ETAG=git makes it the git blob id, as for a file kept in git, and any
// other value is taken verbatim),
// the commit $FAKE_HF_COMMIT (default 40 'c's); --revision accepts "main" and that commit; a
// repository holding a file named ".gated" is a gated one the caller has no access to.
// Faults, by $FAKE_HF_MODE:
//   fail         exit 1 with an HTTP 500 error after starting the partial file
//   corrupt      one byte flipped in the middle of the written file (size unchanged)
//   gate         writes half, then waits until the file $FAKE_HF_GATE exists
//   ignore-term  as gate, with SIGTERM ignored (only SIGKILL stops it)
//   no-local-dir an `hf` from before --local-dir existed: the option is a usage error
//   symlink      an `hf` from before 0.23 (local_dir_use_symlinks="auto"): the file goes to
//                $FAKE_HF_HUB/.blobs/<etag> and DIR/<file> is a symlink to it
// $FAKE_HF_ARGV: a file each run appends its argv to (one line, words separated by spaces);
// $FAKE_HF_PID_FILE: a file it writes its pid to.
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;

namespace {

std::string Env(const char* name, const char* fallback = "") {
  const char* value = std::getenv(name);
  return value != nullptr ? value : fallback;
}

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string HexDigest(const std::string& bytes, const EVP_MD* md) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &length, md, nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0xf]);
  }
  return hex;
}

std::string Sha256Hex(const std::string& bytes) { return HexDigest(bytes, EVP_sha256()); }

// The etag the Hub gives `content`, as $FAKE_HF_ETAG asks.
std::string EtagOf(const std::string& content) {
  const std::string kind = Env("FAKE_HF_ETAG");
  if (kind.empty()) return Sha256Hex(content);
  if (kind != "git") return kind;
  return HexDigest("blob " + std::to_string(content.size()) + std::string(1, '\0') + content,
                   EVP_sha1());
}

int UsageError(const std::string& message) {
  std::cerr << "Usage: hf download [OPTIONS] REPO_ID [FILENAMES]...\n"
            << "Try 'hf download -h' for help.\n\n"
            << "Error: " << message << "\n";
  return 2;
}

int HubError(const std::string& message) {
  std::cerr << "Error: " << message << "\n"
            << "Hint: set HF_DEBUG=1 as environment variable for full traceback.\n";
  return 1;
}

void WaitForGate() {
  const std::string gate = Env("FAKE_HF_GATE");
  while (gate.empty() || !fs::exists(gate)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (const std::string log = Env("FAKE_HF_ARGV"); !log.empty()) {
    std::ofstream out(log, std::ios::app);
    for (int i = 0; i < argc; ++i) out << (i ? " " : "") << argv[i];
    out << "\n";
  }
  if (const std::string pid_file = Env("FAKE_HF_PID_FILE"); !pid_file.empty()) {
    std::ofstream(pid_file) << getpid() << "\n";
  }
  if (argc < 2 || std::string(argv[1]) != "download") {
    std::cerr << "Usage: hf [OPTIONS] COMMAND [ARGS]...\nTry 'hf -h' for help.\n\n"
              << "Error: No such command '" << (argc < 2 ? "" : argv[1]) << "'.\n";
    return 2;
  }
  std::vector<std::string> positional;
  std::string local_dir, revision = "main";
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](const std::string& flag, std::string* out) {
      if (arg == flag) {
        if (i + 1 >= argc) return false;
        *out = argv[++i];
        return true;
      }
      if (arg.rfind(flag + "=", 0) == 0) {
        *out = arg.substr(flag.size() + 1);
        return true;
      }
      return false;
    };
    if (Env("FAKE_HF_MODE") == "no-local-dir" && arg.rfind("--local-dir", 0) == 0) {
      return UsageError("No such option: --local-dir");
    }
    if (value("--local-dir", &local_dir) || value("--revision", &revision)) continue;
    if (arg.rfind("--", 0) == 0) return UsageError("No such option: " + arg);
    positional.push_back(arg);
  }
  if (positional.size() != 2 || local_dir.empty()) {
    return UsageError("this stand-in takes exactly REPO_ID FILENAME --local-dir DIR");
  }
  const std::string& repo = positional[0];
  const std::string& file = positional[1];
  const fs::path target = fs::path(local_dir) / file;
  const fs::path metadata =
      fs::path(local_dir) / ".cache/huggingface/download" / (file + ".metadata");
  if (const std::string offline = Env("HF_HUB_OFFLINE");
      offline == "1" || offline == "ON" || offline == "YES" || offline == "TRUE") {
    if (fs::is_regular_file(target) && fs::is_regular_file(metadata)) {
      std::cout << target.string() << "\n";
      return 0;
    }
    return HubError(
        "Invalid value. Cannot find the requested files in the disk cache and outgoing traffic "
        "has been disabled. To enable hf.co look-ups and downloads online, set "
        "'local_files_only' to False.");
  }
  const std::string commit = Env("FAKE_HF_COMMIT", std::string(40, 'c').c_str());
  const fs::path repo_dir = fs::path(Env("FAKE_HF_HUB")) / repo;
  if (!fs::is_directory(repo_dir)) {
    return HubError(
        "Repository not found. Check the `repo_id` and `repo_type` parameters. If the repo is "
        "private, make sure you are authenticated.");
  }
  if (fs::exists(repo_dir / ".gated")) {
    return HubError("Access denied. This repository requires approval.");
  }
  if (revision != "main" && revision != commit) {
    return HubError("Revision not found. Check the `revision` parameter.");
  }
  if (!fs::is_regular_file(repo_dir / file)) return HubError("File not found in repository.");
  const std::string content = ReadAll(repo_dir / file);
  const std::string etag = EtagOf(content);

  const fs::path cache = fs::path(local_dir) / ".cache" / "huggingface";
  const fs::path download = cache / "download";
  fs::create_directories(download);
  if (!fs::exists(cache / ".gitignore")) std::ofstream(cache / ".gitignore") << "*";
  std::ofstream(download / (file + ".lock")).flush();
  auto write_metadata = [&] {
    std::ofstream(metadata) << commit << "\n" << etag << "\n" << std::time(nullptr) << ".0\n";
  };
  if (fs::is_regular_file(target)) {
    std::ifstream in(metadata);
    std::string recorded_commit, recorded_etag;
    if (std::getline(in, recorded_commit) && std::getline(in, recorded_etag) &&
        recorded_etag == etag) {
      std::cout << target.string() << "\n";
      return 0;
    }
    if (Sha256Hex(ReadAll(target)) == etag) {
      write_metadata();
      std::cout << target.string() << "\n";
      return 0;
    }
  }

  const std::string mode = Env("FAKE_HF_MODE");
  if (mode == "ignore-term") signal(SIGTERM, SIG_IGN);
  fs::remove(target);
  const fs::path incomplete = download / (file + "." + etag + ".incomplete");
  {
    std::ofstream out(incomplete, std::ios::binary | std::ios::trunc);
    std::string bytes = content;
    if (mode == "corrupt" && !bytes.empty()) bytes[bytes.size() / 2] ^= 0x01;
    const size_t half = bytes.size() / 2;
    out.write(bytes.data(), static_cast<std::streamsize>(half));
    out.flush();
    if (mode == "fail") {
      return HubError("500 Server Error: Internal Server Error for url: https://huggingface.co/" +
                      repo + "/resolve/" + revision + "/" + file);
    }
    if (mode == "gate" || mode == "ignore-term") WaitForGate();
    out.write(bytes.data() + half, static_cast<std::streamsize>(bytes.size() - half));
  }
  if (fs::file_size(incomplete) != content.size()) {
    std::cerr << "OSError: Consistency check failed: file should be of size " << content.size()
              << " but has size " << fs::file_size(incomplete) << " (" << file << ").\n";
    return 1;
  }
  if (mode == "symlink") {
    const fs::path blob = fs::path(Env("FAKE_HF_HUB")) / ".blobs" / etag;
    fs::create_directories(blob.parent_path());
    fs::rename(incomplete, blob);
    fs::create_symlink(blob, target);
  } else {
    fs::rename(incomplete, target);
  }
  write_metadata();
  std::cout << target.string() << "\n";
  return 0;
}
