#include "converter/report/html.h"

#include <cstdio>
#include <filesystem>
#include <system_error>

#include "converter/io/safetensors_writer.h"
#include "converter/report/svg.h"

namespace probex::convert::report {

std::string html_page(const std::string& title, const Facts& facts, const std::string& body) {
  std::string s =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/><title>" + escape_xml(title) +
      "</title><style>\n"
      "body{font-family:sans-serif;margin:24px;color:#222;max-width:1500px}\n"
      "h1{font-size:22px;margin:0 0 8px}h2{font-size:18px;margin:28px 0 6px;border-bottom:1px solid #ccc}\n"
      "h3{font-size:15px;margin:16px 0 4px}p.note{color:#555;font-size:13px;max-width:900px}\n"
      "dl.facts{display:grid;grid-template-columns:max-content auto;gap:2px 14px;font-size:13px;margin:0}\n"
      "dl.facts dt{color:#666}dl.facts dd{margin:0;font-family:monospace}\n"
      "table{border-collapse:collapse;font-size:13px;margin:6px 0}\n"
      "th,td{border-bottom:1px solid #ddd;padding:3px 10px}td:not(:first-child),th:not(:first-child){text-align:right}\n"
      "td{font-variant-numeric:tabular-nums}\n"
      "figure{margin:8px 0}figure .charts{display:flex;flex-wrap:wrap;gap:10px}\n"
      "figcaption{font-size:12px;color:#555;max-width:900px;margin-top:4px}\n"
      "svg.chart{border:1px solid #e3e3e3}\n"
      "</style></head><body><h1>" +
      escape_xml(title) + "</h1><dl class=\"facts\">";
  for (const auto& [name, value] : facts) s += "<dt>" + escape_xml(name) + "</dt><dd>" + escape_xml(value) + "</dd>";
  return s + "</dl>" + body + "</body></html>\n";
}

std::string html_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::string s = "<table><thead><tr>";
  for (const std::string& h : header) s += "<th>" + escape_xml(h) + "</th>";
  s += "</tr></thead><tbody>";
  for (const std::vector<std::string>& row : rows) {
    s += "<tr>";
    for (const std::string& c : row) s += "<td>" + escape_xml(c) + "</td>";
    s += "</tr>";
  }
  return s + "</tbody></table>";
}

std::string html_figures(const std::vector<std::string>& charts, const std::string& caption) {
  std::string s = "<figure><div class=\"charts\">";
  for (const std::string& c : charts) s += c;
  s += "</div>";
  if (!caption.empty()) s += "<figcaption>" + escape_xml(caption) + "</figcaption>";
  return s + "</figure>";
}

std::string cell(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", v);
  return buf;
}

bool write_report_page(const std::string& dir, const std::string& html, std::string* error) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    *error = dir + ": cannot create: " + ec.message();
    return false;
  }
  return write_file_atomically(dir + "/index.html", html.data(), html.size(), error);
}

}  // namespace probex::convert::report
