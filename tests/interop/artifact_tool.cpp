// Interop helper for tests/interop/test_artifact_interop.sh.
//   artifact_tool pack DIR OUT.zip [--dep [NAME=]ID]... [--dep-uri NAME=URI]... [--meta K=V]...
//   artifact_tool validate IN.zip     full validation; prints the manifest (canonical JSON)
//   artifact_tool manifest IN.zip     ReadManifest only
//   artifact_tool extract IN.zip DIR
// Failures print "<CODE> <REASON>: message" to stderr and exit 1 (2 for usage).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>

#include "aifs/kinds/artifact.h"

namespace {

int Fail(const aifs::Status& st) {
  std::fprintf(stderr, "%s\n", st.ToString().c_str());
  return 1;
}

int Usage() {
  std::fprintf(stderr,
               "usage: artifact_tool pack DIR OUT.zip [--dep [NAME=]ID] [--dep-uri NAME=URI] [--meta K=V]\n"
               "       artifact_tool validate|manifest IN.zip\n"
               "       artifact_tool extract IN.zip DIR\n");
  return 2;
}

bool ReadAll(const std::string& path, aifs::Bytes& out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  out.assign(std::istreambuf_iterator<char>(f), {});
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return Usage();
  const std::string cmd = argv[1];
  if (cmd == "pack") {
    if (argc < 4) return Usage();
    aifs::ArtifactOptions opts;
    for (int i = 4; i < argc; ++i) {
      const std::string flag = argv[i];
      if (i + 1 >= argc) return Usage();
      const std::string arg = argv[++i];
      const size_t eq = arg.find('=');
      if (flag == "--dep") {
        aifs::ArtifactDependency d;
        const std::string id = eq == std::string::npos ? arg : arg.substr(eq + 1);
        d.name = eq == std::string::npos ? arg : arg.substr(0, eq);
        auto parsed = aifs::AssetId::Parse(id);
        if (!parsed.ok()) return Fail(parsed.status());
        d.asset = *parsed;
        opts.dependencies.push_back(d);
      } else if (flag == "--dep-uri" && eq != std::string::npos) {
        aifs::ArtifactDependency d;
        d.name = arg.substr(0, eq);
        d.uri = arg.substr(eq + 1);
        opts.dependencies.push_back(d);
      } else if (flag == "--meta" && eq != std::string::npos) {
        opts.metadata[arg.substr(0, eq)] = arg.substr(eq + 1);
      } else {
        return Usage();
      }
    }
    aifs::Bytes out;
    aifs::Status st = aifs::PackDirectory(argv[2], opts, out);
    if (!st.ok()) return Fail(st);
    std::ofstream f(argv[3], std::ios::binary);
    f.write(reinterpret_cast<const char*>(out.data()), static_cast<std::streamsize>(out.size()));
    return f ? 0 : 1;
  }
  aifs::Bytes zip;
  if (!ReadAll(argv[2], zip)) {
    std::fprintf(stderr, "cannot read %s\n", argv[2]);
    return 2;
  }
  if (cmd == "validate" || cmd == "manifest") {
    auto m = cmd == "validate" ? aifs::ValidateArtifact(zip) : aifs::ReadManifest(zip);
    if (!m.ok()) return Fail(m.status());
    std::cout << aifs::SerializeManifest(*m);
    return 0;
  }
  if (cmd == "extract" && argc == 4) {
    aifs::Status st = aifs::ExtractArtifact(zip, argv[3]);
    return st.ok() ? 0 : Fail(st);
  }
  return Usage();
}
