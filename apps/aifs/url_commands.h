// `aifs url` (pre-signed HTTP URLs for one asset) and `aifs url-key`
// (the keys that sign them). Both go through the Api: on the data directory,
// or with --server through the RPCs (the server adds its HTTP address).
#pragma once

#include <string>

#include "commands.h"

namespace aifs::cli {

struct UrlArgs {
  std::string ref;  // ID | aifs: URI | PATH | NS:PATH
  std::string ns;
  std::string as_of;
  std::string expires = "15m";
  // "http(s)://host:port" of the HTTP plane; default: what the server says.
  std::string base;
};

Status Url(Api& api, const Output& out, const UrlArgs& args);
Status UrlKeys(Api& api, const Output& out);
Status UrlKeyRotate(Api& api, const Output& out);
Status UrlKeyRevoke(Api& api, const Output& out, const std::string& key_id);

}  // namespace aifs::cli
