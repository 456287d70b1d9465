// probex-convert --onnx-expert: a ProbeX checkpoint's float expert as an ONNX model (io/onnx_writer.h), for
// other runtimes such as ONNX Runtime, with the checkpoint's metadata. With int8, step 1 and the encoder are
// quantized per output channel as an int8 bundle's are (bundle/quantize.h), behind ONNX Runtime's dynamic
// quantization: the peer of an int8 bundle. It lives beside the bundle writer, not in io/, because it
// quantizes as the bundle does (io/ is below bundle/ in the rooms' drawing).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace probex::convert {

// The model's bytes, and its inputs and outputs in one line ("input \"layer\" [H, W], outputs ...").
bool export_onnx_expert(const std::string& checkpoint, bool int8, std::vector<uint8_t>* bytes, std::string* summary,
                        std::string* error);

}  // namespace probex::convert
