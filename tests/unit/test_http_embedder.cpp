// The http-embed operator kind against tests/tools/embed_server.py: request
// shapes and batching from the server's log, vectors against the server's
// own function (computed by Python), and each fault mapped to its code and
// reason. Also MakeOperatorKind's parameter checks.
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>

#include "aifs/ingest/http_embedder.h"
#include "aifs/ingest/text_passages.h"
#include "ingest_test_util.h"
#include "test_util.h"

namespace aifs {
namespace {

using nlohmann::json;
using test::EmbedServer;
using test::Spec;
using test::TextInput;

constexpr int kDim = 16;

void ExpectNear(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-6) << "at " << i;
}

class HttpEmbedderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    AIFS_NEED_PYTHON("json");
    server_ = std::make_unique<EmbedServer>(kDim, log_);
    ASSERT_TRUE(server_->ok()) << "embed_server.py did not start";
  }

  std::unique_ptr<OperatorKind> Make(std::map<std::string, std::string> params) {
    params.emplace("url", server_->url());
    params.emplace("model", "test-model");
    auto k = MakeOperatorKind(Spec("http-embed", params));
    EXPECT_TRUE(k.ok()) << k.status().ToString();
    return k.ok() ? std::move(k).value() : nullptr;
  }

  std::vector<json> Requests() { return test::ReadJsonLines(log_); }

  test::TempDir dir_;
  std::string log_ = dir_.Sub("requests.log");
  std::unique_ptr<EmbedServer> server_;
};

TEST_F(HttpEmbedderTest, RequestShapeBatchingAndVectors) {
  auto kind = Make({{"batch", "2"}, {"version", "7"}});
  ASSERT_TRUE(kind);
  EXPECT_EQ(kind->batch_size(), 2u);
  EXPECT_EQ(kind->space().name, "test-model");
  EXPECT_EQ(kind->space().dim, 0u);  // learnt from the first answer
  EXPECT_EQ(kind->describe(), "http-embed/1 model=test-model v=7");
  const std::vector<std::string> texts = {"the cat sat on the mat", "tensor weights",
                                          "Ünïcödé wörds ok", "embedding layer", "x"};
  std::vector<OperatorInput> inputs;
  for (const auto& t : texts) inputs.push_back(TextInput(t));
  auto r = kind->Run(inputs);
  AIFS_ASSERT_OK(r.status());
  const auto want = test::PythonEmbed(texts, kDim, dir_.path());
  ASSERT_EQ(want.size(), texts.size());
  ASSERT_EQ(r->size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    ASSERT_TRUE((*r)[i].ok()) << (*r)[i].status().ToString();
    ASSERT_EQ((*r)[i]->vectors.size(), 1u);
    const PassageVector& v = (*r)[i]->vectors[0];
    EXPECT_EQ(v.offset, 0u);
    EXPECT_EQ(v.length, texts[i].size());
    ExpectNear(v.values, want[i]);
  }
  EXPECT_EQ(kind->space().dim, static_cast<uint32_t>(kDim));
  // Three requests of 2, 2 and 1 texts, in order, shaped as the API says.
  const auto log = Requests();
  ASSERT_EQ(log.size(), 3u);
  size_t next = 0;
  for (const json& req : log) {
    EXPECT_EQ(req["path"], "/v1/embeddings");
    EXPECT_EQ(req["content_type"], "application/json");
    EXPECT_EQ(req["model"], "test-model");
    EXPECT_EQ(req["encoding_format"], "float");
    EXPECT_FALSE(req["has_auth"].get<bool>());
    for (const json& t : req["input"]) EXPECT_EQ(t, texts[next++]);
  }
  EXPECT_EQ(next, texts.size());
}

TEST_F(HttpEmbedderTest, AnswersInAnyOrderAreSortedByIndex) {
  server_->Control({{"shuffle", true}});
  auto kind = Make({});
  ASSERT_TRUE(kind);
  const std::vector<std::string> texts = {"alpha beta", "gamma", "delta epsilon zeta"};
  std::vector<OperatorInput> inputs;
  for (const auto& t : texts) inputs.push_back(TextInput(t));
  auto r = kind->Run(inputs);
  AIFS_ASSERT_OK(r.status());
  const auto want = test::PythonEmbed(texts, kDim, dir_.path());
  for (size_t i = 0; i < texts.size(); ++i) ExpectNear((*r)[i]->vectors.at(0).values, want[i]);
}

TEST_F(HttpEmbedderTest, PassagesAreEmbeddedOneByOneWithTheirRanges) {
  auto kind = Make({{"chunk_bytes", "64"}, {"chunk_overlap", "16"}, {"batch", "4"}});
  ASSERT_TRUE(kind);
  std::string text;
  for (int i = 0; i < 12; ++i)
    text += "Sentence number " + std::to_string(i) + " talks about tensors. ";
  text += "\n\nA new paragraph about embeddings and vector search.";
  const auto ranges = SplitPassages(text, 64, 16);
  ASSERT_GT(ranges.size(), 4u);
  std::vector<std::string> passages;
  for (const auto& p : ranges) passages.push_back(text.substr(p.offset, p.length));
  auto r = kind->Run(std::vector<OperatorInput>{TextInput(text)});
  AIFS_ASSERT_OK(r.status());
  ASSERT_TRUE((*r)[0].ok()) << (*r)[0].status().ToString();
  const auto& vectors = (*r)[0]->vectors;
  ASSERT_EQ(vectors.size(), ranges.size());
  const auto want = test::PythonEmbed(passages, kDim, dir_.path());
  for (size_t i = 0; i < ranges.size(); ++i) {
    EXPECT_EQ(vectors[i].offset, ranges[i].offset);
    EXPECT_EQ(vectors[i].length, ranges[i].length);
    ExpectNear(vectors[i].values, want[i]);
  }
  EXPECT_EQ(Requests().size(), (ranges.size() + 3) / 4);
  EXPECT_NE(kind->describe().find("chunk=64/16"), std::string::npos);
}

TEST_F(HttpEmbedderTest, InputsThatAreNotTextFailAlone) {
  auto kind = Make({});
  ASSERT_TRUE(kind);
  OperatorInput binary = TextInput(std::string("ab\xff\xfe", 4));
  auto r =
      kind->Run(std::vector<OperatorInput>{TextInput("fine text"), binary, TextInput(" \n\t")});
  AIFS_ASSERT_OK(r.status());
  EXPECT_TRUE((*r)[0].ok());
  AIFS_EXPECT_STATUS((*r)[1].status(), kInvalidArgument, "NOT_TEXT");
  AIFS_EXPECT_STATUS((*r)[2].status(), kInvalidArgument, "EMPTY_INPUT");
  const auto log = Requests();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0]["input"], json::array({"fine text"}));
}

TEST_F(HttpEmbedderTest, BearerTokenFromTheAuthFile) {
  const std::string token = "sk-test-0123456789";
  server_->Control({{"mode", "auth"}, {"token", token}});
  test::WriteFileBytes(dir_.Sub("token"), AsBytes("  " + token + "\n"));
  auto kind = Make({{"auth_file", dir_.Sub("token")}});
  ASSERT_TRUE(kind);
  auto r = kind->Run(std::vector<OperatorInput>{TextInput("secret words")});
  AIFS_ASSERT_OK(r.status());
  EXPECT_TRUE((*r)[0].ok());
  auto log = Requests();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_TRUE(log[0]["has_auth"].get<bool>());
  EXPECT_TRUE(log[0]["auth_ok"].get<bool>());

  // The wrong token: the whole call fails, and the message never shows it.
  test::WriteFileBytes(dir_.Sub("wrong"), AsBytes("sk-wrong-token"));
  auto wrong = Make({{"auth_file", dir_.Sub("wrong")}});
  auto r2 = wrong->Run(std::vector<OperatorInput>{TextInput("secret words")});
  AIFS_EXPECT_STATUS(r2.status(), kFailedPrecondition, "EMBEDDER_AUTH");
  EXPECT_EQ(r2.status().message().find("sk-wrong-token"), std::string::npos);
  // No token at all.
  auto none = Make({});
  AIFS_EXPECT_STATUS(none->Run(std::vector<OperatorInput>{TextInput("a")}).status(),
                     kFailedPrecondition, "EMBEDDER_AUTH");
  // A missing auth file fails the add, not a call.
  AIFS_EXPECT_STATUS(MakeOperatorKind(Spec("http-embed", {{"url", server_->url()},
                                                          {"model", "m"},
                                                          {"auth_file", dir_.Sub("nope")}}))
                         .status(),
                     kInvalidArgument, "BAD_OPERATOR_PARAM");
}

TEST_F(HttpEmbedderTest, FaultsMapToCodesAndReasons) {
  const std::vector<OperatorInput> inputs = {TextInput("one"), TextInput("two")};
  struct Case {
    json control;
    std::map<std::string, std::string> params;
    Code code;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {{{"mode", "down"}}, {}, Code::kUnavailable, "EMBEDDER_UNAVAILABLE"},
      {{{"mode", "error"}, {"status", 503}}, {}, Code::kUnavailable, "EMBEDDER_UNAVAILABLE"},
      {{{"mode", "error"}, {"status", 500}}, {}, Code::kUnavailable, "EMBEDDER_UNAVAILABLE"},
      {{{"mode", "error"}, {"status", 429}}, {}, Code::kUnavailable, "EMBEDDER_UNAVAILABLE"},
      {{{"mode", "error"}, {"status", 403}}, {}, Code::kFailedPrecondition, "EMBEDDER_AUTH"},
      {{{"mode", "error"}, {"status", 404}},
       {},
       Code::kFailedPrecondition,
       "EMBEDDER_BAD_RESPONSE"},
      {{{"mode", "garbage"}}, {}, Code::kFailedPrecondition, "EMBEDDER_BAD_RESPONSE"},
      {{{"mode", "wrong-dim"}},
       {{"dim", "16"}},
       Code::kFailedPrecondition,
       "EMBEDDER_WRONG_DIMENSION"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.control.dump());
    server_->Control(c.control);
    auto kind = Make(c.params);
    auto r = kind->Run(inputs);
    EXPECT_TRUE(test::IsStatus(r.status(), c.code, c.reason));
  }
  // Without `dim`, the first answer sets it; a later one of another fails.
  server_->Control({{"mode", "wrong-dim"}});
  auto kind = Make({});
  AIFS_ASSERT_OK(kind->Run(inputs).status());
  EXPECT_EQ(kind->space().dim, static_cast<uint32_t>(kDim + 1));
  server_->Control({{"mode", "ok"}});
  AIFS_EXPECT_STATUS(kind->Run(inputs).status(), kFailedPrecondition, "EMBEDDER_WRONG_DIMENSION");
}

TEST_F(HttpEmbedderTest, SlowServerTimesOutNearTimeoutMs) {
  server_->Control({{"mode", "slow"}, {"sleep", 10}});
  auto kind = Make({{"timeout_ms", "300"}});
  const auto start = std::chrono::steady_clock::now();
  auto r = kind->Run(std::vector<OperatorInput>{TextInput("slow text")});
  const auto took = std::chrono::steady_clock::now() - start;
  AIFS_EXPECT_STATUS(r.status(), kDeadlineExceeded, "EMBEDDER_TIMEOUT");
  EXPECT_LT(took, std::chrono::seconds(8));  // gave up long before the server answered
}

TEST_F(HttpEmbedderTest, NobodyListening) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);  // a port no one listens on
  auto kind = MakeOperatorKind(
      Spec("http-embed",
           {{"url", "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port))}, {"model", "m"}}));
  AIFS_ASSERT_OK(kind.status());
  AIFS_EXPECT_STATUS((*kind)->Run(std::vector<OperatorInput>{TextInput("a")}).status(),
                     kUnavailable, "EMBEDDER_UNAVAILABLE");
}

TEST_F(HttpEmbedderTest, PoisonInputFailsAloneInABatchOfEight) {
  server_->Control({{"poison", "deadly"}});
  auto kind = Make({{"batch", "8"}});
  std::vector<std::string> texts;
  std::vector<OperatorInput> inputs;
  for (int i = 0; i < 8; ++i) {
    texts.push_back(i == 3 ? "a deadly poison text" : "ordinary text " + std::to_string(i));
    inputs.push_back(TextInput(texts.back()));
  }
  auto r = kind->Run(inputs);
  AIFS_ASSERT_OK(r.status());
  const auto want = test::PythonEmbed(texts, kDim, dir_.path());
  for (size_t i = 0; i < 8; ++i) {
    if (i == 3) {
      const Status& st = (*r)[i].status();
      AIFS_EXPECT_STATUS(st, kInvalidArgument, "EMBEDDER_REJECTED_INPUT");
      EXPECT_NE(st.message().find("input rejected"), std::string::npos) << st.message();
      EXPECT_NE(st.message().find("HTTP 400"), std::string::npos) << st.message();
      for (char c : st.message()) EXPECT_GE(static_cast<unsigned char>(c), 0x20);
      continue;
    }
    ASSERT_TRUE((*r)[i].ok()) << i << ": " << (*r)[i].status().ToString();
    ExpectNear((*r)[i]->vectors.at(0).values, want[i]);
  }
  // One request of 8, refused; then each input alone.
  const auto log = Requests();
  ASSERT_EQ(log.size(), 9u);
  EXPECT_EQ(log[0]["input"].size(), 8u);
  for (size_t i = 1; i < log.size(); ++i) EXPECT_EQ(log[i]["input"].size(), 1u);
}

TEST(OperatorKindTest, NamesAndUnknownKind) {
  EXPECT_EQ(OperatorKindNames(),
            (std::vector<std::string>{"http-embed", "exec", "tensor-stats", "sniff"}));
  auto k = MakeOperatorKind(test::Spec("word2vec", {}));
  AIFS_EXPECT_STATUS(k.status(), kInvalidArgument, "UNKNOWN_OPERATOR_KIND");
  EXPECT_NE(k.status().message().find("http-embed, exec, tensor-stats, sniff"), std::string::npos);
}

TEST(OperatorKindTest, ParametersAreChecked) {
  const std::string url = "http://127.0.0.1:1";
  struct Case {
    std::map<std::string, std::string> params;
    std::string names;  // the parameter the message must name
  };
  const std::vector<Case> cases = {
      {{{"url", url}, {"model", "m"}, {"bacth", "8"}}, "`bacth`"},
      {{{"url", url}}, "`model`"},
      {{{"model", "m"}}, "`url`"},
      {{{"url", "ftp://x/"}, {"model", "m"}}, "`url`"},
      {{{"url", "http://x/?q=1"}, {"model", "m"}}, "`url`"},
      {{{"url", url}, {"model", "m"}, {"batch", "0"}}, "`batch`"},
      {{{"url", url}, {"model", "m"}, {"batch", "2049"}}, "`batch`"},
      {{{"url", url}, {"model", "m"}, {"batch", "8x"}}, "`batch`"},
      {{{"url", url}, {"model", "m"}, {"dim", "-1"}}, "`dim`"},
      {{{"url", url}, {"model", "m"}, {"metric", "manhattan"}}, "`metric`"},
      {{{"url", url}, {"model", "m"}, {"chunk_bytes", "8"}}, "`chunk_bytes`"},
      {{{"url", url}, {"model", "m"}, {"chunk_overlap", "8"}}, "`chunk_overlap`"},
      {{{"url", url}, {"model", "m"}, {"chunk_bytes", "100"}, {"chunk_overlap", "50"}},
       "`chunk_overlap`"},
      {{{"url", url}, {"model", "m"}, {"version", "a b"}}, "`version`"},
      {{{"url", url}, {"model", "m"}, {"max_input_bytes", "0"}}, "`max_input_bytes`"},
  };
  for (const Case& c : cases) {
    auto k = MakeOperatorKind(test::Spec("http-embed", c.params));
    AIFS_EXPECT_STATUS(k.status(), kInvalidArgument, "BAD_OPERATOR_PARAM");
    EXPECT_NE(k.status().message().find(c.names), std::string::npos) << k.status().message();
  }
  auto ok = MakeOperatorKind(test::Spec("http-embed", {{"url", url},
                                                       {"model", "m"},
                                                       {"space", "s"},
                                                       {"dim", "384"},
                                                       {"metric", "l2"},
                                                       {"max_input_bytes", "1000"}}));
  AIFS_ASSERT_OK(ok.status());
  EXPECT_EQ((*ok)->space().name, "s");
  EXPECT_EQ((*ok)->space().dim, 384u);
  EXPECT_EQ((*ok)->space().metric, VectorMetric::kL2);
  EXPECT_EQ((*ok)->max_input_bytes(), 1000u);
}

TEST(OperatorKindTest, EmbeddingsEndpoint) {
  OperatorParams p("http-embed", {});
  EXPECT_EQ(*EmbeddingsEndpoint(p, "http://h:1"), "http://h:1/v1/embeddings");
  EXPECT_EQ(*EmbeddingsEndpoint(p, "http://h:1/"), "http://h:1/v1/embeddings");
  EXPECT_EQ(*EmbeddingsEndpoint(p, "https://h/v1"), "https://h/v1/embeddings");
  EXPECT_EQ(*EmbeddingsEndpoint(p, "http://h/api/embeddings"), "http://h/api/embeddings");
  EXPECT_EQ(*EmbeddingsEndpoint(p, "http://h/openai/v1/embeddings/"),
            "http://h/openai/v1/embeddings");
  EXPECT_FALSE(EmbeddingsEndpoint(p, "http:///v1").ok());
  EXPECT_FALSE(EmbeddingsEndpoint(p, "h:1").ok());
}

}  // namespace
}  // namespace aifs
