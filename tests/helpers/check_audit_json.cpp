// Checks JSON Lines on stdin against the audit JSON result schema (docs/audit-json.md), as printed by
// probex-audit --json and probex-agent: every record must have exactly the documented fields with the
// documented types, and record i must be of the kind EXPECT[i]:
//
//   check_audit_json EXPECT... < records.jsonl
//
//   tree      an audited model of a known tree (status "ok")
//   unknown   an audited model the router refused (status "ok", tree null, the reason in "message")
//   NAME      a model that failed with status NAME (e.g. model_invalid): tree null, the error in "message"
//
// Exit 0 when every record passes, 1 with the first problem on stderr.
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "runtime/formats/json_reader.h"

namespace {

using probex::json::JsonCursor;

// A small DOM for the check (the runtime's reader walks; a checker wants to look around).
struct Value {
  enum Kind { kNull, kBool, kNumber, kString, kArray, kObject } kind = kNull;
  bool boolean = false;
  bool unsigned_integer = false;
  uint64_t integer = 0;
  double number = 0.0;
  std::string text;
  std::vector<Value> items;
  std::map<std::string, Value> fields;
};

bool read(JsonCursor* c, Value* v, std::string* error) {
  const char p = c->peek();
  if (p == '{') {
    v->kind = Value::kObject;
    c->consume('{');
    if (c->consume('}')) return true;
    do {
      std::string key;
      Value item;
      if (!c->read_string(&key) || !c->consume(':') || !read(c, &item, error)) return false;
      if (!v->fields.emplace(key, std::move(item)).second) {
        *error = "duplicate key '" + key + "'";
        return false;
      }
    } while (c->consume(','));
    return c->consume('}');
  }
  if (p == '[') {
    v->kind = Value::kArray;
    c->consume('[');
    if (c->consume(']')) return true;
    do {
      v->items.emplace_back();
      if (!read(c, &v->items.back(), error)) return false;
    } while (c->consume(','));
    return c->consume(']');
  }
  if (p == '"') {
    v->kind = Value::kString;
    return c->read_string(&v->text);
  }
  if (p == 't' || p == 'f' || p == 'n') {
    v->kind = p == 'n' ? Value::kNull : Value::kBool;
    v->boolean = p == 't';
    c->skip_value();
    return true;
  }
  v->kind = Value::kNumber;
  probex::json::NumberKind kind{};
  JsonCursor ahead = *c;  // the value as a float too (the record prints float32 values)
  float f = 0.0f;
  if (ahead.read_float(&f)) v->number = static_cast<double>(f);
  if (!c->read_number(&kind, &v->integer)) return false;
  v->unsigned_integer = kind == probex::json::NumberKind::kUnsignedInteger;
  return true;
}

struct Checker {
  std::string where, problem;
  bool fail(const std::string& what) {
    if (problem.empty()) problem = where + ": " + what;
    return false;
  }
  bool is(const Value& v, Value::Kind kind, const std::string& name, bool null_ok = false) {
    if (v.kind == kind || (null_ok && v.kind == Value::kNull)) return true;
    return fail("'" + name + "' has the wrong type");
  }
  // An object with exactly these fields of these kinds.
  bool shape(const Value& o, const std::string& name, const std::map<std::string, Value::Kind>& kinds) {
    if (!is(o, Value::kObject, name)) return false;
    for (const auto& [key, kind] : kinds)
      if (!o.fields.count(key)) return fail(name + " lacks '" + key + "'");
    for (const auto& [key, value] : o.fields) {
      const auto it = kinds.find(key);
      if (it == kinds.end()) return fail(name + " has the undocumented field '" + key + "'");
      if (!is(value, it->second, name + "." + key)) return false;
    }
    return true;
  }

  bool record(const Value& r, const std::string& expect) {
    if (!is(r, Value::kObject, "record")) return false;
    const std::map<std::string, std::set<Value::Kind>> documented = {{"schema_version", {Value::kNumber}},
                                                                     {"model", {Value::kString}},
                                                                     {"format", {Value::kString, Value::kNull}},
                                                                     {"declared_base_model",
                                                                      {Value::kString, Value::kNull}},
                                                                     {"status", {Value::kString}},
                                                                     {"tree", {Value::kString, Value::kNull}},
                                                                     {"root", {Value::kString, Value::kNull}},
                                                                     {"layer", {Value::kString, Value::kNull}},
                                                                     {"message", {Value::kString, Value::kNull}},
                                                                     {"routed", {Value::kBool}},
                                                                     {"route_distance", {Value::kNumber, Value::kNull}},
                                                                     {"route_accept", {Value::kNumber, Value::kNull}},
                                                                     {"route_margin", {Value::kNumber, Value::kNull}},
                                                                     {"distances", {Value::kObject}},
                                                                     {"route_outcome", {Value::kString, Value::kNull}},
                                                                     {"route_band", {Value::kArray, Value::kNull}},
                                                                     {"layer_rounding", {Value::kNumber, Value::kNull}},
                                                                     {"labels", {Value::kArray}},
                                                                     {"zero_shot", {Value::kArray}},
                                                                     {"embedding", {Value::kArray}},
                                                                     {"seconds", {Value::kObject, Value::kNull}},
                                                                     {"bit_accuracy", {Value::kNumber}}};
    for (const auto& [key, kinds] : documented)
      if (key != "bit_accuracy" && !r.fields.count(key)) return fail("no field '" + key + "'");
    for (const auto& [key, value] : r.fields) {
      const auto it = documented.find(key);
      if (it == documented.end()) return fail("undocumented field '" + key + "'");
      if (!it->second.count(value.kind)) return fail("'" + key + "' has the wrong type");
    }
    const Value& version = r.fields.at("schema_version");
    if (!version.unsigned_integer || version.integer != 1) return fail("schema_version is not the integer 1");
    for (const auto& [tree, distance] : r.fields.at("distances").fields)
      if (!is(distance, Value::kNumber, "distances." + tree)) return false;
    for (const Value& l : r.fields.at("labels").items)
      if (!shape(l, "labels[]",
                 {{"name", Value::kString}, {"probability", Value::kNumber}, {"predicted", Value::kBool}}))
        return false;
    for (const Value& z : r.fields.at("zero_shot").items)
      if (!shape(z, "zero_shot[]", {{"label", Value::kString}, {"cosine", Value::kNumber}, {"trained", Value::kBool}}))
        return false;
    for (const Value& e : r.fields.at("embedding").items)
      if (!is(e, Value::kNumber, "embedding[]")) return false;
    const Value& seconds = r.fields.at("seconds");
    if (seconds.kind == Value::kObject && !shape(seconds, "seconds",
                                                 {{"route", Value::kNumber},
                                                  {"read", Value::kNumber},
                                                  {"probe", Value::kNumber},
                                                  {"rest", Value::kNumber},
                                                  {"zero_shot", Value::kNumber},
                                                  {"open", Value::kNumber}}))
      return false;

    // The routing verdict (1.3): present exactly when routed, agreeing with the tree, its band a pair
    // of distances around the acceptance distance that places route_distance on the verdict's side.
    const Value& outcome = r.fields.at("route_outcome");
    const Value& band = r.fields.at("route_band");
    if ((outcome.kind == Value::kString) != r.fields.at("routed").boolean) return fail("route_outcome without routing");
    if (outcome.kind == Value::kString) {
      const std::string& o = outcome.text;
      if (o != "accepted" && o != "near_boundary" && o != "refused") return fail("route_outcome '" + o + "'");
      if ((o == "refused") == (r.fields.at("tree").kind == Value::kString))
        return fail("route_outcome '" + o + "' and tree disagree");
      if (r.fields.at("layer_rounding").kind != Value::kNumber) return fail("routed without layer_rounding");
      if (band.kind == Value::kArray) {
        if (band.items.size() != 2 || band.items[0].kind != Value::kNumber || band.items[1].kind != Value::kNumber)
          return fail("route_band is not two numbers");
        const double low = band.items[0].number, high = band.items[1].number;
        const double d = r.fields.at("route_distance").number, accept = r.fields.at("route_accept").number;
        if (!(low <= high) || (o == "accepted" && !(d <= low)) || (o == "near_boundary" && !(d > low && d <= high)) ||
            (o == "refused" && !(d > high)))
          return fail("route_distance is not on the side of route_band that route_outcome '" + o + "' says");
        if (r.fields.at("layer_rounding").number == 0.0 && !(low == accept && high == accept))
          return fail("an exact layer's band is not its acceptance distance");
      } else if (o != "refused") {
        return fail("a tree routed without route_band");
      }
    }

    const std::string& status = r.fields.at("status").text;
    const bool has_tree = r.fields.at("tree").kind == Value::kString;
    const bool has_message = r.fields.at("message").kind == Value::kString && !r.fields.at("message").text.empty();
    const bool routed = r.fields.at("routed").boolean;
    if (expect == "tree") {
      if (status != "ok") return fail("status '" + status + "', expected ok");
      if (!has_tree || r.fields.at("layer").kind != Value::kString) return fail("no tree or layer");
      if (r.fields.at("message").kind != Value::kNull) return fail("a message on a good audit");
      if (r.fields.at("labels").items.empty() || r.fields.at("embedding").items.empty())
        return fail("no labels or embedding");
      if (seconds.kind != Value::kObject) return fail("no seconds");
      if (routed && !r.fields.at("distances").fields.count(r.fields.at("tree").text))
        return fail("routed, but no distance to its own tree");
    } else if (expect == "unknown") {
      if (status != "ok") return fail("status '" + status + "', expected ok");
      if (has_tree || !has_message) return fail("an unknown-tree record needs tree null and the reason in message");
      if (!routed || r.fields.at("distances").fields.empty()) return fail("an unknown-tree record without distances");
      if (!r.fields.at("labels").items.empty()) return fail("labels without a tree");
    } else {
      if (status != expect) return fail("status '" + status + "', expected " + expect);
      if (has_tree || !has_message) return fail("a failed record needs tree null and the error in message");
      if (seconds.kind != Value::kNull || routed) return fail("a failed record with timings or routing");
    }
    return true;
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> expect(argv + 1, argv + argc);
  Checker check;
  std::string line;
  size_t n = 0;
  while (std::getline(std::cin, line)) {
    check.where = "record " + std::to_string(n + 1);
    size_t offset = 0;
    const char* what = nullptr;
    if (!probex::json::validate_json(line, 16, &offset, &what)) {
      check.fail(std::string("not JSON: ") + what + " at byte " + std::to_string(offset));
      break;
    }
    JsonCursor cursor(line);
    Value record;
    std::string error;
    if (!read(&cursor, &record, &error)) {
      check.fail(error);
      break;
    }
    if (n >= expect.size()) {
      check.fail("more records than the " + std::to_string(expect.size()) + " expected");
      break;
    }
    const auto model = record.fields.find("model");
    if (model != record.fields.end()) check.where += " (" + model->second.text + ")";
    if (!check.record(record, expect[n])) break;
    ++n;
  }
  if (check.problem.empty() && n != expect.size())
    check.problem = std::to_string(n) + " records, expected " + std::to_string(expect.size());
  if (!check.problem.empty()) {
    std::fprintf(stderr, "check_audit_json: %s\n", check.problem.c_str());
    return 1;
  }
  std::printf("check_audit_json: %zu records follow the schema\n", n);
  return 0;
}
