#include "kind_commands.h"

#include <iostream>
#include <nlohmann/json.hpp>

#include "aifs/core/file_util.h"
#include "aifs/core/hex.h"
#include "aifs/kinds/artifact.h"
#include "aifs/kinds/embed.h"
#include "aifs/kinds/safetensors.h"
#include "aifs/kinds/tensor.h"

namespace aifs::cli {

using nlohmann::json;

namespace {

Result<PutResult> PutBytes(Api& api, const PutOptions& opts, ByteSpan bytes) {
  AIFS_ASSIGN_OR_RETURN(auto writer, api.BeginPut(opts));
  AIFS_RETURN_IF_ERROR(writer->Write(bytes));
  return writer->Commit();
}

Result<Bytes> ReadAll(Api& api, const AssetUri& uri, AssetKind expected) {
  AIFS_ASSIGN_OR_RETURN(AssetInfo info, api.StatAsset(*uri.ns, uri.id, false));
  if (info.kind != expected)
    return err::FailedPrecondition("WRONG_KIND", "asset " + uri.id.ToHex() + " is a " +
                                                     std::string(KindName(info.kind)) + ", not a " +
                                                     std::string(KindName(expected)));
  Bytes all;
  all.reserve(info.size);
  AIFS_RETURN_IF_ERROR(api.ReadAsset(*uri.ns, uri.id, ReadRange{}, [&](ByteSpan b) {
    all.insert(all.end(), b.begin(), b.end());
    return Status::Ok();
  }));
  return all;
}

Result<Bytes> ReadLocalFile(const std::string& path) {
  AIFS_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  return Bytes(text.begin(), text.end());
}

Result<PutOptions> BaseOptions(const PutArgs& args, AssetKind kind) {
  PutOptions opts;
  opts.ns = args.ns.empty() ? "default" : args.ns;
  opts.kind = kind;
  AIFS_ASSIGN_OR_RETURN(opts.metadata, ParseKeyValues(args.meta));
  for (const auto& text : args.parents) {
    AIFS_ASSIGN_OR_RETURN(ParentRef p, ParseParent(text));
    opts.parents.push_back(std::move(p));
  }
  return opts;
}

void Report(const Output& out, const PutResult& r, const std::string& label = "") {
  if (out.json) {
    std::cout << json{{"id", r.asset.id.ToHex()}, {"uri", r.asset.Uri().ToString()},
                      {"kind", KindName(r.asset.kind)}, {"size", r.asset.size},
                      {"created_now", r.created}, {"name", label}}
                     .dump()
              << "\n";
  } else {
    std::cout << r.asset.id.ToHex() << (label.empty() ? "" : "\t" + label) << "\n";
  }
}

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

Status PutTensor(Api& api, const Output& out, const PutArgs& args) {
  AIFS_ASSIGN_OR_RETURN(PutOptions opts, BaseOptions(args, AssetKind::kTensor));
  AIFS_ASSIGN_OR_RETURN(Bytes input, ReadLocalFile(args.path));
  if (EndsWith(args.path, ".safetensors")) {
    AIFS_ASSIGN_OR_RETURN(SafetensorsFile file, ParseSafetensors(input));
    for (const SafetensorsEntry& e : file.tensors) {
      PutOptions one = opts;
      for (const auto& [k, v] : SafetensorsAssetMetadata(file, e)) one.metadata[k] = v;
      Bytes ipc;
      AIFS_RETURN_IF_ERROR(EncodeTensorIpc(e.tensor.view(), e.tensor.rows, ipc));
      AIFS_ASSIGN_OR_RETURN(PutResult r, PutBytes(api, one, ipc));
      Report(out, r, e.name);
    }
    return Status::Ok();
  }
  Bytes ipc;
  if (EndsWith(args.path, ".npy")) {
    AIFS_RETURN_IF_ERROR(NpyToTensorIpc(input, ipc));
  } else {
    ipc = std::move(input);  // an Arrow IPC stream already; the engine validates it
  }
  AIFS_ASSIGN_OR_RETURN(PutResult r, PutBytes(api, opts, ipc));
  Report(out, r);
  return Status::Ok();
}

Status PutEmbed(Api& api, const Output& out, const EmbedArgs& args) {
  AIFS_ASSIGN_OR_RETURN(PutOptions opts, BaseOptions(args.put, AssetKind::kEmbed));
  AIFS_ASSIGN_OR_RETURN(Bytes npy, ReadLocalFile(args.put.path));
  EmbedRecord rec;
  AIFS_ASSIGN_OR_RETURN(rec.vectors, EmbedVectorsFromNpy(npy));
  rec.model = args.model;
  rec.model_digest = args.model_digest;
  rec.dim = rec.vectors.empty() ? 0 : static_cast<uint32_t>(rec.vectors.front().size());
  AIFS_ASSIGN_OR_RETURN(rec.metric, ParseMetric(args.metric));
  if (!args.source.empty()) {
    AIFS_ASSIGN_OR_RETURN(AssetId source, AssetId::Parse(args.source));
    rec.source = source.bytes();
  }
  if (args.chunk_index >= 0) rec.chunk_index = args.chunk_index;
  rec.metadata = opts.metadata;
  Bytes encoded;
  AIFS_RETURN_IF_ERROR(EncodeEmbed(rec, encoded));
  AIFS_ASSIGN_OR_RETURN(PutResult r, PutBytes(api, opts, encoded));
  Report(out, r);
  return Status::Ok();
}

Status Pack(Api& api, const Output& out, const PackArgs& args) {
  ArtifactOptions opts;
  AIFS_ASSIGN_OR_RETURN(opts.metadata, ParseKeyValues(args.meta));
  for (const std::string& d : args.deps) {
    ArtifactDependency dep;
    size_t eq = d.find('=');
    std::string target = eq == std::string::npos ? d : d.substr(eq + 1);
    dep.name = eq == std::string::npos ? d : d.substr(0, eq);
    if (auto id = AssetId::Parse(target); id.ok()) dep.asset = *id;
    else dep.uri = target;
    opts.dependencies.push_back(std::move(dep));
  }
  Bytes zip;
  AIFS_RETURN_IF_ERROR(PackDirectory(args.dir, opts, zip));
  PutOptions put;
  put.ns = args.ns.empty() ? "default" : args.ns;
  put.kind = AssetKind::kArtifact;
  AIFS_ASSIGN_OR_RETURN(PutResult r, PutBytes(api, put, zip));
  Report(out, r);
  return Status::Ok();
}

Status Unpack(Api& api, const Output& out, const std::string& ns, const std::string& ref,
              const std::string& dir) {
  AIFS_ASSIGN_OR_RETURN(AssetUri uri, ParseAssetRef(ref));
  if (!uri.ns) uri.ns = ns.empty() ? "default" : ns;
  AIFS_ASSIGN_OR_RETURN(Bytes zip, ReadAll(api, uri, AssetKind::kArtifact));
  AIFS_RETURN_IF_ERROR(ExtractArtifact(zip, dir));
  if (!out.quiet && !out.json) std::cout << "unpacked " << uri.ToString() << " into " << dir << "\n";
  return Status::Ok();
}

Status ListArtifact(Api& api, const Output& out, const std::string& ns, const std::string& ref) {
  AIFS_ASSIGN_OR_RETURN(AssetUri uri, ParseAssetRef(ref));
  if (!uri.ns) uri.ns = ns.empty() ? "default" : ns;
  AIFS_ASSIGN_OR_RETURN(Bytes zip, ReadAll(api, uri, AssetKind::kArtifact));
  AIFS_ASSIGN_OR_RETURN(ArtifactManifest m, ReadManifest(zip));
  if (out.json) {
    std::cout << SerializeManifest(m) << "\n";
    return Status::Ok();
  }
  for (const ArtifactFile& f : m.files)
    std::cout << f.size << "\t" << f.media_type << "\t" << HexEncode(f.blake3) << "\t" << f.path
              << "\n";
  for (const ArtifactDependency& d : m.dependencies)
    std::cout << "dependency\t" << d.name << "\t"
              << (d.asset ? d.asset->ToHex() : d.uri.value_or("")) << "\n";
  return Status::Ok();
}

Status GetAsNpy(Api& api, const Output& out, const GetArgs& args) {
  (void)out;
  AIFS_ASSIGN_OR_RETURN(AssetUri uri, ParseAssetRef(args.ref));
  if (!uri.ns) uri.ns = args.ns.empty() ? "default" : args.ns;
  AIFS_ASSIGN_OR_RETURN(Bytes ipc, ReadAll(api, uri, AssetKind::kTensor));
  Bytes npy;
  AIFS_RETURN_IF_ERROR(TensorIpcToNpy(ipc, npy));
  if (args.output.empty() || args.output == "-")
    return WriteAll(1, npy, "write output");
  return WriteFileAtomic(args.output, AsChars(npy), 0644);
}

}  // namespace aifs::cli
