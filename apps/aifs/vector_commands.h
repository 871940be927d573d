// Vector commands: `aifs space create|ls`, `aifs search`, and the helpers
// `aifs put --embed` uses.
#pragma once

#include <string>
#include <vector>

#include "aifs/api/api.h"
#include "commands.h"

namespace aifs::cli {

Status SpaceCreate(Api& api, const Output& out, const std::string& ns, const std::string& name,
                   uint32_t dim, const std::string& metric);
Status SpaceList(Api& api, const Output& out, const std::string& ns);

struct SearchArgs {
  std::string ns;
  std::string space;
  std::string vector_file;  // .npy of one float vector
  std::string like;         // or an asset ID, or
  std::string text;         // a text embedded by the operator `embed_with`
  std::string embed_with;
  size_t k = 10;
  size_t ef = 0;
  std::vector<std::string> where;
  std::string as_of;
};
Status Search(Api& api, const Output& out, const SearchArgs& args);

// `aifs space pending|approve|reject`: the quarantine.
struct ReviewArgs {
  std::string ns;
  std::string space;
  std::vector<std::string> ids;
  bool all = false;
  bool approve = true;
};
Status SpacePending(Api& api, const Output& out, const ReviewArgs& args);
Status SpaceReview(Api& api, const Output& out, const ReviewArgs& args);

// A float32/float64 .npy of shape (dim,) or (1, dim) as floats.
Result<std::vector<float>> LoadVectorNpy(const std::string& path);
// "SPACE=FILE.npy" items of `aifs put --embed`.
Result<std::vector<Embedding>> ParseEmbeddings(const std::vector<std::string>& items);

}  // namespace aifs::cli
