// How well a bundle's router does on a zoo, measured with the runtime: every model of the zoo's test
// splits is routed; models of trees the bundle holds must reach their tree, models of other trees (and of
// a `foreign` zoo) must be refused as "unknown tree".
#pragma once

#include <string>
#include <vector>

#include "converter/zoo/layout.h"

namespace probex::convert {

bool print_route_report(const std::vector<uint8_t>& bundle_bytes, const std::vector<ZooFile>& zoo,
                        const std::vector<ZooFile>& foreign, std::string* error);

}  // namespace probex::convert
