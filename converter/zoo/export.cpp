// export_zoo (zoo.h): a GGUF, TFLite or ONNX copy of a safetensors zoo, without retraining.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "converter/cli/parallel.h"
#include "converter/cli/progress.h"
#include "converter/io/safetensors_writer.h"
#include "converter/zoo/layout.h"
#include "converter/zoo/model_writer.h"
#include "converter/zoo/zoo.h"
#include "runtime/formats/json_reader.h"
#include "runtime/formats/json_writer.h"
#include "runtime/formats/safetensors.h"

namespace fs = std::filesystem;

namespace probex::convert {
namespace {

// One model of the source zoo and where its copy went.
struct ExportItem {
  std::string src_rel;       // the source file, relative to the source zoo
  std::string src_file_dir;  // its folder, relative (a snapshot folder in the Hugging Face layout)
  std::string model_dir;     // the model's folder, relative: names it in the copy
  ZooLayout layout = ZooLayout::kProbex;
  std::string dst_rel;  // the copy's model file, relative to the copy
  std::map<std::string, std::string> metadata;
  std::string error;
};

std::string generic(const fs::path& p) { return p.generic_string(); }

// Reads every tensor of a safetensors model as float32 and writes its copy into `work_dir`.
void export_model(const fs::path& src_dir, const fs::path& work_dir, const ZooExportOptions& options,
                  ExportItem* item) {
  SafetensorsFile file;
  const SafetensorsStatus st = SafetensorsFile::open((src_dir / item->src_rel).string(), &file);
  if (!st.ok()) {
    item->error = st.message;
    return;
  }
  std::vector<std::vector<float>> values(file.tensors().size());
  std::vector<TensorView> views;
  for (size_t i = 0; i < file.tensors().size(); ++i) {
    const TensorInfo& t = file.tensors()[i];
    values[i].resize(static_cast<size_t>(t.element_count));
    const SafetensorsStatus read = file.read_f32(t, 0, t.element_count, values[i].data());
    if (!read.ok()) {
      item->error = read.message;
      return;
    }
    views.push_back({t.name, t.shape, values[i].data(), values[i].size()});
  }
  for (const auto& [k, v] : file.metadata()) item->metadata[k] = v;
  std::vector<uint8_t> bytes;
  if (!encode_zoo_model(views, item->metadata, options.format, options.gguf_type, options.tflite_type, item->model_dir,
                        &bytes, &item->error)) {
    item->error = item->src_rel + ": " + item->error;
    return;
  }
  place_zoo_model(work_dir, item->model_dir, bytes, item->layout, options.format, &item->dst_rel, &item->error);
}

// The manifest with each line's "path" value replaced by the copy's path, every other byte kept.
bool rewrite_manifest(const std::string& text, const std::map<std::string, std::string>& new_paths,
                      const std::string& label, std::string* out, std::string* error) {
  std::istringstream lines(text);
  std::string line;
  size_t number = 0;
  out->clear();
  while (std::getline(lines, line)) {
    ++number;
    const std::string where = label + " line " + std::to_string(number);
    if (line.find_first_not_of(" \t\r") == std::string::npos) {
      *out += line + "\n";
      continue;
    }
    size_t offset = 0;
    const char* why = nullptr;
    if (!json::validate_json(line, 8, &offset, &why)) {
      *error = where + ": not JSON (" + why + " at byte " + std::to_string(offset) + ")";
      return false;
    }
    json::JsonCursor c(line);
    std::string key, path;
    size_t begin = 0, end = 0;
    bool found = false;
    if (c.consume('{') && !c.consume('}')) {
      do {
        if (!c.read_string(&key) || !c.consume(':')) break;
        if (key == "path" && c.peek() == '"') {
          begin = c.offset();
          c.read_string(&path);
          end = c.offset();
          found = true;
        } else {
          c.skip_value();
        }
      } while (c.consume(','));
    }
    if (!found) {
      *error = where + ": no \"path\" string";
      return false;
    }
    const auto it = new_paths.find(path);
    if (it == new_paths.end()) {
      *error = where + ": '" + path + "' is not a model of the zoo";
      return false;
    }
    std::string encoded;
    append_json_string(&encoded, it->second);
    *out += line.substr(0, begin) + encoded + line.substr(end) + "\n";
  }
  if (!text.empty() && text.back() != '\n' && !out->empty()) out->pop_back();  // keep a missing final newline
  return true;
}

bool read_text(const fs::path& path, std::string* out, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  if (!in) {
    *error = path.string() + ": cannot read";
    return false;
  }
  *out = s.str();
  return true;
}

}  // namespace

bool export_zoo(const std::string& src_dir, const ZooExportOptions& options, std::vector<ZooModel>* models,
                std::string* error) {
  if (options.format == ZooFormat::kSafetensors) {
    *error = "export writes GGUF, TFLite or ONNX copies of a safetensors zoo, not safetensors";
    return false;
  }
  std::vector<ZooFile> files;
  if (!list_zoo_files(src_dir, &files, error)) return false;
  if (files.empty()) {
    *error = src_dir + ": no models (a zoo holds <tree>/root/ and <tree>/<split>/<model>/ folders)";
    return false;
  }
  std::string out = options.out_dir;
  while (out.size() > 1 && out.back() == '/') out.pop_back();  // "zoo/" must not build in "zoo/.partial"
  const fs::path src(src_dir), final_dir(out), work_dir(out + ".partial");
  std::error_code ec;
  const fs::path src_canonical = fs::weakly_canonical(src, ec), out_canonical = fs::weakly_canonical(final_dir, ec);
  const auto inside = [](const fs::path& a, const fs::path& b) {  // a is b or inside b
    const std::string as = generic(a) + "/", bs = generic(b) + "/";
    return as.compare(0, bs.size(), bs) == 0;
  };
  if (inside(out_canonical, src_canonical) || inside(src_canonical, out_canonical)) {
    *error = options.out_dir + ": the copy must be outside the zoo " + src_dir + " (and not hold it)";
    return false;
  }
  if (fs::exists(final_dir) && !options.overwrite) {
    *error = options.out_dir + ": already exists (pass --force to replace it)";
    return false;
  }

  std::vector<ExportItem> items(files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    ExportItem& item = items[i];
    const fs::path rel = fs::path(files[i].path).lexically_relative(src);
    item.src_rel = generic(rel);
    if (rel.filename() != "model.safetensors") {
      *error = files[i].path + ": not a safetensors model (export reads a zoo of safetensors files)";
      return false;
    }
    const fs::path file_dir = rel.parent_path();
    item.src_file_dir = generic(file_dir);
    // Hugging Face layout: <model>/snapshots/<ref>/model.safetensors, the ref named by <model>/refs/main.
    const fs::path model_dir = file_dir.parent_path().parent_path();
    if (file_dir.parent_path().filename() == "snapshots" && fs::exists(src / model_dir / "refs" / "main")) {
      item.layout = ZooLayout::kHuggingFace;
      item.model_dir = generic(model_dir);
    } else {
      item.model_dir = item.src_file_dir;
    }
  }

  fs::remove_all(work_dir, ec);
  fs::create_directories(work_dir, ec);
  if (ec) {
    *error = work_dir.string() + ": cannot create: " + ec.message();
    return false;
  }
  {
    Progress progress("export  ", items.size(), options.progress);
    parallel_for(items.size(), options.threads, [&](size_t i) {
      export_model(src, work_dir, options, &items[i]);
      progress.advance();
    });
  }
  std::map<std::string, std::string> new_paths;   // source file -> copy, relative
  std::map<std::string, std::string> moved_dirs;  // source file folder -> the copy's
  std::set<std::string> replaced;                 // source files the export rewrote
  for (const ExportItem& item : items) {
    if (!item.error.empty()) {
      *error = item.error;
      return false;
    }
    new_paths[item.src_rel] = item.dst_rel;
    moved_dirs[item.src_file_dir] = generic(fs::path(item.dst_rel).parent_path());
    replaced.insert(item.src_rel);
    if (item.layout == ZooLayout::kHuggingFace) replaced.insert(item.model_dir + "/refs/main");
  }

  // Every other file, unchanged; one beside a Hugging Face model file follows it into its new snapshot.
  for (auto it = fs::recursive_directory_iterator(src, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    const fs::path rel = it->path().lexically_relative(src);
    const std::string rel_s = generic(rel);
    if (replaced.count(rel_s) || rel_s == "manifest.jsonl") continue;
    fs::path dst_rel = rel;
    for (fs::path dir = rel.parent_path(); !dir.empty(); dir = dir.parent_path()) {
      const auto moved = moved_dirs.find(generic(dir));
      if (moved != moved_dirs.end()) {
        dst_rel = fs::path(moved->second) / rel.lexically_relative(dir);
        break;
      }
    }
    fs::create_directories((work_dir / dst_rel).parent_path(), ec);
    if (!ec) fs::copy_file(it->path(), work_dir / dst_rel, fs::copy_options::overwrite_existing, ec);
    if (ec) {
      *error = it->path().string() + ": cannot copy: " + ec.message();
      return false;
    }
  }
  if (ec) {
    *error = src_dir + ": cannot list: " + ec.message();
    return false;
  }
  if (fs::exists(src / "manifest.jsonl")) {
    std::string text, rewritten;
    if (!read_text(src / "manifest.jsonl", &text, error) ||
        !rewrite_manifest(text, new_paths, (src / "manifest.jsonl").string(), &rewritten, error) ||
        !write_file_atomically((work_dir / "manifest.jsonl").string(), rewritten.data(), rewritten.size(), error)) {
      return false;
    }
  }
  if (fs::exists(final_dir)) fs::remove_all(final_dir, ec);
  fs::rename(work_dir, final_dir, ec);
  if (ec) {
    *error = options.out_dir + ": cannot move the finished copy into place: " + ec.message();
    return false;
  }
  models->clear();
  for (ExportItem& item : items) models->push_back({item.dst_rel, std::move(item.metadata)});
  return true;
}

}  // namespace probex::convert
