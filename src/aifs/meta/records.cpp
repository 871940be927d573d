#include "aifs/meta/records.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

namespace aifs {

std::string SerializeDeterministic(const google::protobuf::MessageLite& msg) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream sos(&out);
    google::protobuf::io::CodedOutputStream cos(&sos);
    cos.SetSerializationDeterministic(true);
    msg.SerializeToCodedStream(&cos);
  }
  return out;
}

Status ParseRecord(std::string_view bytes, google::protobuf::MessageLite& msg,
                   std::string_view what) {
  if (!msg.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return err::DataLoss("METADATA_CORRUPT", "unreadable " + std::string(what) + " record");
  return Status::Ok();
}

}  // namespace aifs
