// One audit as a record of the JSON result schema (docs/audit-json.md), the one record shape of
// probex-audit --json and probex-agent. Behind probex_audit_json() in the C API.
#pragma once

#include <string>

#include "probex/probex.h"
#include "runtime/bundle/bundle.h"

namespace probex {

// The record (one line of JSON, no newline) of model `model_path` audited with `bundle`: `status` and
// `message` are what the audit returned; `result` (a complete struct) is read only when status is PROBEX_OK. May throw
// std::bad_alloc.
std::string audit_json_record(const Bundle& bundle, const char* model_path, probex_status status, const char* message,
                              const probex_audit_result* result);

}  // namespace probex
