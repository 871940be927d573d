// The exec operator kind: programs on stdin/stdout, their environment, the
// limits (time, memory, output), failures, and the Python tools under
// tests/tools as embedding programs, checked against independent oracles
// (Python's own function, sha256sum, numpy).
#include <sys/stat.h>

#include <cmath>
#include <fstream>
#include <thread>

#include "aifs/ingest/exec_operator.h"
#include "aifs/ingest/text_passages.h"
#include "ingest_test_util.h"
#include "test_util.h"

namespace aifs {
namespace {

using nlohmann::json;
using test::Spec;
using test::TextInput;

class ExecOperatorTest : public ::testing::Test {
 protected:
  std::unique_ptr<OperatorKind> Make(std::vector<std::string> argv,
                                     std::map<std::string, std::string> params = {}) {
    params["argv"] = json(argv).dump();
    auto k = MakeOperatorKind(Spec("exec", params));
    EXPECT_TRUE(k.ok()) << k.status().ToString();
    return k.ok() ? std::move(k).value() : nullptr;
  }
  // One input through `kind`: its result (the whole call must succeed).
  Result<OperatorOutput> RunOne(OperatorKind& kind, const OperatorInput& in) {
    auto r = kind.Run(std::span<const OperatorInput>(&in, 1));
    if (!r.ok()) return r.status();
    EXPECT_EQ(r->size(), 1u);
    return std::move((*r)[0]);
  }
  std::vector<std::string> Sh(const std::string& script) { return {"/bin/sh", "-c", script}; }

  test::TempDir dir_;
};

TEST_F(ExecOperatorTest, NumpyProgramGivesTheServerFunctionsVector) {
  AIFS_NEED_PYTHON("numpy");
  const std::string text = "The quick brown fox jumps over the lazy dog";
  const auto want = test::PythonEmbed({text}, 16, dir_.path());
  ASSERT_EQ(want.size(), 1u);
  for (const char* dtype : {"float32", "float64", "float16"}) {
    SCOPED_TRACE(dtype);
    auto kind = Make({"python3", test::ToolPath("exec_embed_numpy.py"), "--dtype", dtype});
    ASSERT_TRUE(kind);
    EXPECT_EQ(kind->space().name, "python3");  // the model: argv[0]'s base name
    auto out = RunOne(*kind, TextInput(text));
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    ASSERT_EQ(out->vectors.size(), 1u);
    EXPECT_EQ(out->vectors[0].offset, 0u);
    EXPECT_EQ(out->vectors[0].length, text.size());
    const double tolerance = std::string(dtype) == "float16" ? 1e-3 : 1e-6;
    ASSERT_EQ(out->vectors[0].values.size(), 16u);
    for (size_t i = 0; i < 16; ++i) EXPECT_NEAR(out->vectors[0].values[i], want[0][i], tolerance);
    EXPECT_EQ(kind->space().dim, 16u);
  }
}

TEST_F(ExecOperatorTest, OneRunPerPassage) {
  AIFS_NEED_PYTHON("numpy");
  auto kind = Make({"python3", test::ToolPath("exec_embed_numpy.py")},
                   {{"chunk_bytes", "48"}, {"model", "bow"}, {"space", "bow16"}, {"dim", "16"}});
  ASSERT_TRUE(kind);
  EXPECT_EQ(kind->space().name, "bow16");
  const std::string text =
      "First sentence here. Second one follows it.\n\nThird, in a paragraph of its own. "
      "And a fourth sentence to finish.";
  const auto ranges = SplitPassages(text, 48);
  std::vector<std::string> passages;
  for (const auto& r : ranges) passages.push_back(text.substr(r.offset, r.length));
  const auto want = test::PythonEmbed(passages, 16, dir_.path());
  auto out = RunOne(*kind, TextInput(text));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->vectors.size(), ranges.size());
  for (size_t p = 0; p < ranges.size(); ++p) {
    EXPECT_EQ(out->vectors[p].offset, ranges[p].offset);
    EXPECT_EQ(out->vectors[p].length, ranges[p].length);
    for (size_t i = 0; i < 16; ++i) EXPECT_NEAR(out->vectors[p].values[i], want[p][i], 1e-6);
  }
  // Chunking needs text.
  auto bad = RunOne(*kind, TextInput(std::string("\xff\xfe\x00", 3)));
  AIFS_EXPECT_STATUS(bad.status(), kInvalidArgument, "NOT_TEXT");
}

TEST_F(ExecOperatorTest, TheEnvironmentIsFixedPlusTheAssetsFacts) {
  AIFS_NEED_PYTHON("json");
  auto kind = Make({"python3", "-c", "import os, json; print(json.dumps(dict(os.environ)))"},
                   {{"output", "json"}});
  ASSERT_TRUE(kind);
  EXPECT_EQ(kind->space().name, "");
  ::setenv("AIFS_TEST_LEAK", "must not reach the child", 1);
  OperatorInput in = TextInput("some bytes", {{"label", "cat"}, {"ünï", "cödé \"quoted\""}});
  in.kind = AssetKind::kTensor;
  in.size = 12345;
  auto out = RunOne(*kind, in);
  ::unsetenv("AIFS_TEST_LEAK");
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  const Metadata want = {{"PATH", "/usr/local/bin:/usr/bin:/bin"},
                         {"HOME", "/tmp"},
                         {"LANG", "C.UTF-8"},
                         {"AIFS_ASSET_ID", in.id.ToHex()},
                         {"AIFS_NAMESPACE", "docs"},
                         {"AIFS_KIND", "tensor"},
                         {"AIFS_SIZE", "12345"},
                         {"AIFS_METADATA", json(in.metadata).dump()}};
  EXPECT_EQ(out->metadata, want);
  EXPECT_EQ(json::parse(out->metadata["AIFS_METADATA"]).get<Metadata>(), in.metadata);

  // With passages, their ranges too, and each passage alone on stdin.
  if (!test::HavePython("numpy")) return;
  auto passages = Make({"python3", "-c",
                        "import io, numpy as n, sys, os; e = os.environ; b = io.BytesIO(); "
                        "got = len(sys.stdin.buffer.read()); "
                        "n.save(b, n.array([float(e['AIFS_PASSAGE_OFFSET']), "
                        "float(e['AIFS_PASSAGE_LENGTH']), got], dtype=n.float32)); "
                        "sys.stdout.buffer.write(b.getvalue())"},
                       {{"chunk_bytes", "16"}});
  const std::string text = "alpha beta gamma delta epsilon zeta eta theta";
  auto p = RunOne(*passages, TextInput(text));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_EQ(p->vectors.size(), SplitPassages(text, 16).size());
  for (const PassageVector& v : p->vectors)
    EXPECT_EQ(v.values, (std::vector<float>{float(v.offset), float(v.length), float(v.length)}));
}

TEST_F(ExecOperatorTest, MetadataCannotInjectShellCommands) {
  const std::string f1 = dir_.Sub("injected1"), f2 = dir_.Sub("injected2"),
                    f3 = dir_.Sub("injected3");
  const Metadata md = {{"a", "$(touch " + f1 + ")"},
                       {"b", ";touch " + f2},
                       {"c", "`touch " + f3 + "`"},
                       {"$(touch " + f1 + ")", "key too"}};
  // A program that prints what it got: the metadata comes back verbatim.
  auto kind = Make(Sh("printf '%s' \"$AIFS_METADATA\""), {{"output", "json"}});
  ASSERT_TRUE(kind);
  auto out = RunOne(*kind, TextInput("x", md));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->metadata, md);
  // An argv element that looks like shell is passed as is, not run.
  auto echo = Make({"/bin/echo", "{\"arg\": \"$(touch " + f1 + ")\"}"}, {{"output", "json"}});
  auto out2 = RunOne(*echo, TextInput("x", md));
  ASSERT_TRUE(out2.ok()) << out2.status().ToString();
  EXPECT_EQ(out2->metadata.at("arg"), "$(touch " + f1 + ")");
  for (const auto& f : {f1, f2, f3}) EXPECT_FALSE(std::filesystem::exists(f)) << f;
}

TEST_F(ExecOperatorTest, TimeoutKillsTheWholeProcessGroup) {
  const std::string pidfile = dir_.Sub("pid");
  auto kind = Make(Sh("sleep 60 & echo $! > " + pidfile + "; wait"), {{"timeout_ms", "500"}});
  ASSERT_TRUE(kind);
  const auto start = std::chrono::steady_clock::now();
  auto out = RunOne(*kind, TextInput("x"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  AIFS_EXPECT_STATUS(out.status(), kInvalidArgument, "EXEC_TIMEOUT");
  std::string pid;
  std::ifstream(pidfile) >> pid;
  ASSERT_FALSE(pid.empty());
  // The background sleep is gone (or a zombie waiting for init to reap it).
  std::string stat;
  for (int i = 0; i < 50; ++i) {
    stat.clear();
    std::ifstream("/proc/" + pid + "/stat") >> stat >> stat >> stat;  // pid, (comm), state
    if (stat.empty() || stat == "Z") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(stat.empty() || stat == "Z") << "the program's child " << pid << " is " << stat;
}

TEST_F(ExecOperatorTest, MemoryLimitStopsAGreedyProgram) {
  AIFS_NEED_PYTHON("sys");
  auto kind = Make({"python3", "-c", "b = bytearray(2 << 30); print('{}')"},
                   {{"memory_mb", "256"}, {"output", "json"}});
  ASSERT_TRUE(kind);
  auto out = RunOne(*kind, TextInput("x"));
  AIFS_EXPECT_STATUS(out.status(), kInvalidArgument, "EXEC_FAILED");
  EXPECT_NE(out.status().message().find("MemoryError"), std::string::npos)
      << out.status().message();
}

TEST_F(ExecOperatorTest, FailuresSayHowAndQuoteStderr) {
  auto exit3 = Make(Sh("cat >/dev/null; echo 'something went wrong' >&2; exit 3"));
  auto out = RunOne(*exit3, TextInput("x"));
  AIFS_EXPECT_STATUS(out.status(), kInvalidArgument, "EXEC_FAILED");
  EXPECT_NE(out.status().message().find("status 3"), std::string::npos) << out.status().message();
  EXPECT_NE(out.status().message().find("something went wrong"), std::string::npos);

  // Only the tail of a long stderr.
  auto chatty =
      Make(Sh("i=0; while [ $i -lt 2000 ]; do echo line $i >&2; i=$((i+1)); done; "
              "echo LAST >&2; exit 1"));
  out = RunOne(*chatty, TextInput("x"));
  AIFS_EXPECT_STATUS(out.status(), kInvalidArgument, "EXEC_FAILED");
  EXPECT_NE(out.status().message().find("LAST"), std::string::npos);
  EXPECT_EQ(out.status().message().find("line 1 "), std::string::npos);
  EXPECT_LT(out.status().message().size(), 3000u);

  auto segv = Make(Sh("kill -SEGV $$"));
  out = RunOne(*segv, TextInput("x"));
  AIFS_EXPECT_STATUS(out.status(), kInvalidArgument, "EXEC_FAILED");
  EXPECT_NE(out.status().message().find("signal 11 (SIGSEGV)"), std::string::npos)
      << out.status().message();

  auto missing = Make({"no-such-program-for-aifs"});
  out = RunOne(*missing, TextInput("x"));
  AIFS_EXPECT_STATUS(out.status(), kInvalidArgument, "EXEC_FAILED");
  EXPECT_NE(out.status().message().find("127"), std::string::npos) << out.status().message();
}

TEST_F(ExecOperatorTest, WritingMuchBeforeReadingNeitherDeadlocksNorOverflows) {
  // 32 MiB out before it reads its 4 MiB of stdin: stopped at 16 MiB.
  auto greedy = Make(Sh("head -c 33554432 /dev/zero; cat > /dev/null"));
  std::string big(4 << 20, 'a');
  auto out = RunOne(*greedy, TextInput(big));
  AIFS_EXPECT_STATUS(out.status(), kInvalidArgument, "EXEC_OUTPUT_TOO_LARGE");

  // cat streams 4 MiB through while we still write: a JSON object back.
  const std::string value(4 << 20, 'v');
  auto cat = Make({"cat"}, {{"output", "json"}, {"max_output_bytes", "8388608"}});
  auto echoed = RunOne(*cat, TextInput(json{{"k", value}, {"n", 1.5}, {"b", true}}.dump()));
  ASSERT_TRUE(echoed.ok()) << echoed.status().ToString();
  EXPECT_EQ(echoed->metadata, (Metadata{{"k", value}, {"n", "1.5"}, {"b", "true"}}));

  // A program that never reads its stdin and exits: fine.
  auto ignore = Make(Sh("echo '{\"ok\": 1}'"), {{"output", "json"}});
  auto ignored = RunOne(*ignore, TextInput(big));
  ASSERT_TRUE(ignored.ok()) << ignored.status().ToString();
  EXPECT_EQ(ignored->metadata.at("ok"), "1");
}

TEST_F(ExecOperatorTest, UnreadableOutput) {
  struct Case {
    std::string script;
    std::string output;
  };
  const std::vector<Case> cases = {
      {"echo hello", "npy"},
      {"echo '[1, 2]'", "json"},
      {"echo '{\"nested\": {\"a\": 1}}'", "json"},
      {"echo '{\"aifs.operator\": \"x\"}'", "json"},
      {"echo '{\"n\": null}'", "json"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.script);
    auto kind = Make(Sh(c.script), {{"output", c.output}});
    AIFS_EXPECT_STATUS(RunOne(*kind, TextInput("x")).status(), kInvalidArgument, "EXEC_BAD_OUTPUT");
  }
  if (!test::HavePython("numpy")) return;
  // A program writing the .npy of a numpy expression (np.save needs a seekable file).
  auto npy = [](const std::string& expr) {
    return "import io, sys, numpy as n; b = io.BytesIO(); n.save(b, " + expr +
           "); sys.stdout.buffer.write(b.getvalue())";
  };
  auto nan = Make({"python3", "-c", npy("n.array([1, float('nan')], dtype=n.float32)")});
  AIFS_EXPECT_STATUS(RunOne(*nan, TextInput("x")).status(), kInvalidArgument, "EXEC_BAD_OUTPUT");
  auto matrix = Make({"python3", "-c", npy("n.zeros((2, 3), dtype=n.float32)")});
  AIFS_EXPECT_STATUS(RunOne(*matrix, TextInput("x")).status(), kInvalidArgument, "EXEC_BAD_OUTPUT");
  auto ints = Make({"python3", "-c", npy("n.zeros(3, dtype=n.int32)")});
  AIFS_EXPECT_STATUS(RunOne(*ints, TextInput("x")).status(), kInvalidArgument, "EXEC_BAD_OUTPUT");
  // (1, dim) is a vector; a dimension other than `dim` stops the whole call.
  auto row = Make({"python3", "-c", npy("n.ones((1, 3), dtype=n.float32)")}, {{"dim", "4"}});
  const OperatorInput in = TextInput("x");
  AIFS_EXPECT_STATUS(row->Run(std::span<const OperatorInput>(&in, 1)).status(), kFailedPrecondition,
                     "EMBEDDER_WRONG_DIMENSION");
  auto row3 = Make({"python3", "-c", npy("n.ones((1, 3), dtype=n.float32)")}, {{"dim", "3"}});
  auto ok = RunOne(*row3, in);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->vectors.at(0).values, (std::vector<float>{1, 1, 1}));
}

TEST_F(ExecOperatorTest, JsonStatsProgramAgainstSha256sum) {
  AIFS_NEED_PYTHON("json");
  auto kind = Make({"python3", test::ToolPath("exec_stats_json.py")}, {{"output", "json"}});
  const std::string text = "two lines\nof words here\n";
  test::WriteFileBytes(dir_.Sub("t"), AsBytes(text));
  const std::string sha = test::Shell("sha256sum " + dir_.Sub("t")).substr(0, 64);
  auto out = RunOne(*kind, TextInput(text));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->metadata, (Metadata{{"text.bytes", std::to_string(text.size())},
                                     {"text.lines", "2"},
                                     {"text.words", "5"},
                                     {"text.sha256", sha},
                                     {"text.utf8", "true"},
                                     {"text.namespace", "docs"}}));
  EXPECT_EQ(kind->describe().rfind("exec/1 argv=[\"python3\",", 0), 0u) << kind->describe();
}

TEST_F(ExecOperatorTest, TorchModelIsDeterministic) {
  AIFS_NEED_PYTHON("numpy, torch");
  // torch maps several GiB of address space before it computes anything.
  auto kind = Make({"python3", test::ToolPath("exec_embed_torch.py")},
                   {{"memory_mb", "0"}, {"timeout_ms", "120000"}, {"model", "byte-transformer"}});
  ASSERT_TRUE(kind);
  const OperatorInput a = TextInput("an input for the transformer");
  auto first = RunOne(*kind, a);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = RunOne(*kind, a);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  ASSERT_EQ(first->vectors.at(0).values.size(), 32u);
  EXPECT_EQ(first->vectors[0].values, second->vectors.at(0).values);  // bit for bit
  double norm = 0;
  for (float v : first->vectors[0].values) norm += double(v) * v;
  EXPECT_NEAR(norm, 1.0, 1e-5);
  auto other = RunOne(*kind, TextInput("something else entirely"));
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  EXPECT_NE(first->vectors[0].values, other->vectors.at(0).values);
  EXPECT_EQ(kind->space().name, "byte-transformer");
}

TEST_F(ExecOperatorTest, ParametersAreChecked) {
  struct Case {
    std::map<std::string, std::string> params;
    std::string name;
  };
  const std::vector<Case> cases = {
      {{}, "`argv`"},
      {{{"argv", "python3 embed.py"}}, "`argv`"},
      {{{"argv", "[]"}}, "`argv`"},
      {{{"argv", "[\"a\", 1]"}}, "`argv`"},
      {{{"argv", "[\"\"]"}}, "`argv`"},
      {{{"argv", "[\"a\"]"}, {"output", "csv"}}, "`output`"},
      {{{"argv", "[\"a\"]"}, {"output", "json"}, {"dim", "3"}}, "`dim`"},
      {{{"argv", "[\"a\"]"}, {"memory_mb", "8"}}, "`memory_mb`"},
      {{{"argv", "[\"a\"]"}, {"timeout_ms", "0"}}, "`timeout_ms`"},
      {{{"argv", "[\"a\"]"}, {"max_output_bytes", "0"}}, "`max_output_bytes`"},
      {{{"argv", "[\"a\"]"}, {"shell", "true"}}, "`shell`"},
  };
  for (const Case& c : cases) {
    auto k = MakeOperatorKind(Spec("exec", c.params));
    AIFS_EXPECT_STATUS(k.status(), kInvalidArgument, "BAD_OPERATOR_PARAM");
    EXPECT_NE(k.status().message().find(c.name), std::string::npos) << k.status().message();
  }
  auto k = MakeOperatorKind(Spec("exec", {{"argv", "[\"/opt/m/embed\"]"}}));
  AIFS_ASSERT_OK(k.status());
  EXPECT_EQ((*k)->batch_size(), 1u);
  EXPECT_EQ((*k)->space().name, "embed");
}

}  // namespace
}  // namespace aifs
