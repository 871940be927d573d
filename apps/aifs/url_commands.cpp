#include "url_commands.h"

#include <iostream>
#include <nlohmann/json.hpp>

#include "aifs/auth/caveats.h"
#include "token_commands.h"

namespace aifs::cli {

namespace {

// The file name a path gives a download: its last component.
std::string FileNameOf(const std::string& ref) {
  const size_t slash = ref.rfind('/');
  if (slash != std::string::npos) return ref.substr(slash + 1);
  const size_t colon = ref.find(':');
  return colon == std::string::npos ? ref : ref.substr(colon + 1);
}

}  // namespace

Status Url(Api& api, const Output& out, const UrlArgs& args) {
  AIFS_ASSIGN_OR_RETURN(AssetUri uri, ResolveAsset(api, args.ref, args.ns, args.as_of));
  AIFS_ASSIGN_OR_RETURN(int64_t seconds, auth::ParseDuration(args.expires));
  UrlRequest request{.ns = *uri.ns, .id = uri.id, .as_of = args.as_of, .expires_s = seconds};
  // Named by a path: the download keeps the file's name.
  if (!ResolveRef(args.ref, args.ns).ok()) request.file_name = FileNameOf(args.ref);
  AIFS_ASSIGN_OR_RETURN(SignedUrl url, api.SignUrl(request));
  std::string base = args.base.empty() ? url.base : args.base;
  while (base.ends_with('/')) base.pop_back();
  if (base.empty())
    return err::FailedPrecondition(
        "URL_BASE_UNKNOWN",
        "no HTTP address to put in the URL: give --base http://HOST:PORT (the --http address of "
        "`aifs serve`), or ask a server that serves HTTP (--server)");
  const std::string full = base + url.path_and_query;
  if (out.json) {
    std::cout << nlohmann::json{{"url", full},
                                {"expires", auth::FormatUtc(url.expires_unix_s)},
                                {"key_id", url.key_id},
                                {"id", uri.id.ToHex()},
                                {"ns", *uri.ns}}
                     .dump(2)
              << "\n";
  } else {
    std::cout << full << "\n";
  }
  return Status::Ok();
}

Status UrlKeys(Api& api, const Output& out) {
  AIFS_ASSIGN_OR_RETURN(auto ring, api.ListUrlKeys());
  nlohmann::json keys = nlohmann::json::array();
  for (const TokenRootKey& k : ring) keys.push_back(KeyJson(k));
  if (out.json)
    std::cout << nlohmann::json{{"url_keys", keys}}.dump(2) << "\n";
  else
    PrintKeyLines(keys);
  return Status::Ok();
}

Status UrlKeyRotate(Api& api, const Output& out) {
  AIFS_ASSIGN_OR_RETURN(std::string id, api.RotateUrlKey());
  if (out.json)
    std::cout << nlohmann::json{{"key_id", id}}.dump() << "\n";
  else if (!out.quiet)
    std::cout << "new URL key " << id << " signs new URLs; older keys keep verifying theirs\n";
  return Status::Ok();
}

Status UrlKeyRevoke(Api& api, const Output& out, const std::string& key_id) {
  AIFS_RETURN_IF_ERROR(api.RevokeUrlKey(key_id));
  if (!out.quiet && !out.json)
    std::cout << "revoked URL key " << key_id << ": every URL it signed is void\n";
  return Status::Ok();
}

}  // namespace aifs::cli
