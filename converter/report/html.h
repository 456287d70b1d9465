// The HTML around the charts: one self-contained page (inline CSS, no script, no external resource),
// written so that it is also well-formed XML (every element closed, every attribute quoted), which the
// tests check with a parser instead of trusting a browser's forgiveness.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace probex::convert::report {

using Facts = std::vector<std::pair<std::string, std::string>>;  // (name, value), shown in order

// The page: <h1>title</h1>, the facts as a definition list (the run's settings), then `body` (HTML).
std::string html_page(const std::string& title, const Facts& facts, const std::string& body);

// A table; cells are text (escaped). Columns after the first are right-aligned (numbers).
std::string html_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);

// A figure row: the charts side by side (wrapping), with an optional caption (text, escaped).
std::string html_figures(const std::vector<std::string>& charts, const std::string& caption = "");

// A number in a table: 4 decimals.
std::string cell(double v);

// Writes `html` to DIR/index.html (DIR is created), atomically.
bool write_report_page(const std::string& dir, const std::string& html, std::string* error);

}  // namespace probex::convert::report
