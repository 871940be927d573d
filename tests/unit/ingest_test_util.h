// Helpers for the ingest operator tests: the Python tools under tests/tools
// (an embeddings server, exec programs), shell commands as oracles, and
// inputs for OperatorKind::Run.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "aifs/core/blake3.h"
#include "aifs/ingest/http_client.h"
#include "aifs/ingest/operator_kind.h"

extern char** environ;

namespace aifs::test {

inline constexpr const char* kPython = "/usr/bin/python3";

inline std::string ToolPath(const std::string& name) {
  return std::string(AIFS_SOURCE_DIR) + "/tests/tools/" + name;
}

// The output of `sh -c command` (stdin from /dev/null), and its exit status.
inline std::string Shell(const std::string& command, int* status = nullptr) {
  std::string out;
  FILE* f = ::popen(command.c_str(), "r");
  if (!f) return out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
  const int st = ::pclose(f);
  if (status) *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

// True when /usr/bin/python3 can import every module of `modules` (e.g.
// "numpy, torch").
inline bool HavePython(const std::string& modules) {
  int status = -1;
  Shell(std::string(kPython) + " -c 'import " + modules + "' >/dev/null 2>&1", &status);
  return status == 0;
}

#define AIFS_NEED_PYTHON(modules)                                                                 \
  do {                                                                                            \
    if (!::aifs::test::HavePython(modules))                                                       \
      GTEST_SKIP() << ::aifs::test::kPython << " with " << modules << " is needed for this test"; \
  } while (0)

inline std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// embed_server.embed(text, dim) for each text, computed by Python.
inline std::vector<std::vector<float>> PythonEmbed(const std::vector<std::string>& texts, int dim,
                                                   const std::string& dir) {
  const std::string in = dir + "/texts.json";
  std::ofstream(in) << nlohmann::json(texts).dump();
  const std::string script = "import json,sys; sys.path.insert(0, '" + ToolPath("") +
                             "'); import embed_server as e; "
                             "print(json.dumps([e.embed(t, " +
                             std::to_string(dim) + ") for t in json.load(open('" + in + "'))]))";
  const auto j =
      nlohmann::json::parse(Shell(std::string(kPython) + " -c " + Quote(script)), nullptr, false);
  std::vector<std::vector<float>> out;
  if (!j.is_array()) return out;
  for (const auto& v : j) out.push_back(v.get<std::vector<float>>());
  return out;
}

// tests/tools/embed_server.py on 127.0.0.1, stopped on destruction.
class EmbedServer {
 public:
  EmbedServer(int dim, const std::string& log) {
    int out[2];
    if (::pipe(out) != 0) return;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    const std::string tool = ToolPath("embed_server.py"), d = std::to_string(dim);
    const char* argv[] = {kPython, tool.c_str(), "--dim", d.c_str(), "--log", log.c_str(), nullptr};
    if (posix_spawn(&pid_, kPython, &fa, nullptr, const_cast<char**>(argv), environ) != 0)
      pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
    ::close(out[1]);
    std::string line;
    char c;
    while (::read(out[0], &c, 1) == 1 && c != '\n') line += c;
    ::close(out[0]);
    if (line.rfind("PORT ", 0) == 0) port_ = std::stoi(line.substr(5));
  }
  ~EmbedServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  bool ok() const { return port_ > 0; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // POST /control.
  void Control(const nlohmann::json& c) {
    HttpClient http;
    auto r =
        http.Post(url() + "/control", {"Content-Type: application/json"}, c.dump(), 10000, 1 << 20);
    ASSERT_TRUE(r.ok() && r->status == 200) << r.status().ToString();
  }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

// The log's lines, parsed.
inline std::vector<nlohmann::json> ReadJsonLines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

inline OperatorInput TextInput(const std::string& text, Metadata metadata = {}) {
  OperatorInput in;
  in.ns = "docs";
  in.bytes.assign(text.begin(), text.end());
  in.id = AssetId(Blake3::Hash(in.bytes));
  in.size = in.bytes.size();
  in.metadata = std::move(metadata);
  return in;
}

inline OperatorSpec Spec(const std::string& kind, std::map<std::string, std::string> params) {
  OperatorSpec s;
  s.name = "op";
  s.kind = kind;
  s.params = std::move(params);
  return s;
}

}  // namespace aifs::test
