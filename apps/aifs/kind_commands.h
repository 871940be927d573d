// CLI commands for the typed asset kinds: tensors from .npy/.safetensors/Arrow
// IPC, embeddings from .npy vectors, artifacts packed from directories.
// Conversions happen here, on the client; the engine validates what arrives.
#pragma once

#include <string>
#include <vector>

#include "read_commands.h"

namespace aifs::cli {

// put --kind tensor FILE: .npy becomes one Tensor asset; each tensor of a
// .safetensors file becomes its own Tensor asset (metadata safetensors.name
// and the file's __metadata__ as safetensors.metadata.<key>); anything else is
// stored as an Arrow IPC stream and must validate as one.
Status PutTensor(Api& api, const Output& out, const PutArgs& args);

struct EmbedArgs {
  PutArgs put;           // put.path is the .npy of vectors (--vector)
  std::string model;
  std::string model_digest;
  std::string metric = "cosine";
  std::string source;    // asset ID the vectors describe
  int64_t chunk_index = -1;
};
Status PutEmbed(Api& api, const Output& out, const EmbedArgs& args);

struct PackArgs {
  std::string dir;
  std::string ns;
  std::vector<std::string> deps;  // ID, name=ID or name=URI
  std::vector<std::string> meta;  // k=v (artifact manifest metadata)
};
Status Pack(Api& api, const Output& out, const PackArgs& args);
Status Unpack(Api& api, const Output& out, const std::string& ns, const std::string& ref,
              const std::string& dir);
Status ListArtifact(Api& api, const Output& out, const std::string& ns, const std::string& ref);

// get --as npy: a Tensor asset written as a .npy file.
Status GetAsNpy(Api& api, const Output& out, const GetArgs& args);

}  // namespace aifs::cli
