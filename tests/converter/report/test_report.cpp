#include <doctest/doctest.h>

#include <cctype>
#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include "converter/report/html.h"
#include "converter/report/pca.h"
#include "converter/report/quant_report.h"
#include "converter/report/svg.h"
#include "converter/report/training_report.h"

using namespace probex::convert;
using namespace probex::convert::report;

namespace {

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

// The length of an entity (&amp; &lt; &gt; &quot; &#NN;) at s[i], or 0. (Hand-written, as the scanners
// below: GCC 12's <regex> trips -Wmaybe-uninitialized at -O1 with the sanitizers.)
size_t entity_length(const std::string& s, size_t i) {
  for (const char* name : {"&amp;", "&lt;", "&gt;", "&quot;"}) {
    if (s.compare(i, std::char_traits<char>::length(name), name) == 0) return std::char_traits<char>::length(name);
  }
  if (s.compare(i, 2, "&#") != 0) return 0;
  size_t j = i + 2;
  while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
  return j > i + 2 && j < s.size() && s[j] == ';' ? j + 1 - i : 0;
}

// The length of one attribute ` name="value"` (whitespace first; no '<' in the value) at s[i], or 0.
size_t attribute_length(const std::string& s, size_t i) {
  size_t j = i;
  while (j < s.size() && std::isspace(static_cast<unsigned char>(s[j]))) ++j;
  if (j == i || j >= s.size() || !(std::isalpha(static_cast<unsigned char>(s[j])) || s[j] == '_' || s[j] == ':'))
    return 0;
  while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) ||
                          std::string_view("-_:.").find(s[j]) != std::string_view::npos))
    ++j;
  if (s.compare(j, 2, "=\"") != 0) return 0;
  j += 2;
  while (j < s.size() && s[j] != '"' && s[j] != '<') ++j;
  return j < s.size() && s[j] == '"' ? j + 1 - i : 0;
}

// A small well-formedness check of the XML subset the reports write: a doctype, elements that nest and
// close (or self-close), attributes name="value", text without '<' and with '&' only in entities. Returns
// "" or what is wrong and where.
std::string xml_error(const std::string& s) {
  std::vector<std::string> open;
  size_t i = 0;
  if (s.compare(0, 15, "<!DOCTYPE html>") == 0) i = 15;
  bool root_done = false;
  while (i < s.size()) {
    if (s[i] == '&') {
      const size_t n = entity_length(s, i);
      if (n == 0) return "bare & at " + std::to_string(i);
      i += n;
    } else if (s[i] != '<') {
      if (open.empty() && !std::isspace(static_cast<unsigned char>(s[i])))
        return "text outside the root at " + std::to_string(i);
      ++i;
    } else if (s.compare(i, 2, "</") == 0) {
      const size_t end = s.find('>', i);
      const std::string name = s.substr(i + 2, end - i - 2);
      if (open.empty() || open.back() != name)
        return "</" + name + "> does not close <" + (open.empty() ? "" : open.back()) + ">";
      open.pop_back();
      root_done = open.empty();
      i = end + 1;
    } else {
      if (root_done) return "a second root at " + std::to_string(i);
      size_t j = i + 1;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '-' || s[j] == ':')) ++j;
      const std::string name = s.substr(i + 1, j - i - 1);
      if (name.empty()) return "bad tag at " + std::to_string(i);
      for (size_t n = attribute_length(s, j); n > 0; n = attribute_length(s, j)) j += n;
      if (s.compare(j, 2, "/>") == 0) {
        i = j + 2;
        root_done = open.empty();
      } else if (s.compare(j, 1, ">") == 0) {
        open.push_back(name);
        i = j + 1;
        // <style> holds CSS, which may have '>' (selectors) but never '<': skip to its end tag.
        if (name == "style") i = s.find("</style>", i);
      } else {
        return "bad attribute in <" + name + "> at " + std::to_string(j) + ": " + s.substr(j, 30);
      }
    }
  }
  return open.empty() ? "" : "<" + open.back() + "> is not closed";
}

std::vector<double> attribute_values(const std::string& text, const std::string& element, const std::string& attr) {
  std::vector<double> out;
  // Each <element ...> tag's ` attr="NUMBER"`.
  const std::string open = "<" + element + " ", key = " " + attr + "=\"";
  for (size_t at = text.find(open); at != std::string::npos; at = text.find(open, at + 1)) {
    const size_t end = text.find('>', at);
    const size_t k = text.find(key, at);
    if (k == std::string::npos || k > end) continue;
    out.push_back(std::stod(text.substr(k + key.size(), text.find('"', k + key.size()) - k - key.size())));
  }
  return out;
}

TreeReport synthetic_tree() {
  TreeReport r;
  r.tree = "tree<&>";
  r.layer = "fc2.weight";
  r.rule = "matrix";
  r.rows = 4;
  r.cols = 3;
  r.train = 10;
  r.val = 3;
  r.test = 4;
  r.labels = {"Bag", "T-shirt/top", "\"quoted\""};
  for (const char* name : {"probex", "dense", "chance"}) {
    MethodResult m;
    m.method = name;
    m.test.label_auc = {0.75, -1.0, 0.5};
    if (m.method != "chance") {
      for (int e : {1, 3, 5}) m.fit.evals.push_back({e, 1.0 / e, {0.5 + 0.05 * e, 0, 0, 0, {}}});
      m.fit.best_epoch = 5;
    }
    r.methods.push_back(m);
  }
  r.embedding_width = 2;
  r.test_embeddings = {0, 0, 1, 0, 0, 1, 1, 1};
  r.test_targets = {1, 0, 0, 0, 1, 0, 1, 1, 0, 0, 0, 1};
  r.test_models = {"m0", "m1", "m<2>", "m3"};
  r.other_embeddings = {5, 5, 6, 6};
  r.other_trees = {"other", "other"};
  return r;
}

}  // namespace

TEST_CASE("the well-formedness check itself rejects broken XML") {
  CHECK(xml_error("<a><b x=\"1\"/>t &amp; u</a>").empty());
  CHECK_FALSE(xml_error("<a><b></a>").empty());
  CHECK_FALSE(xml_error("<a>x & y</a>").empty());
  CHECK_FALSE(xml_error("<a x=1></a>").empty());
  CHECK_FALSE(xml_error("<a>").empty());
}

TEST_CASE("report text is escaped") {
  CHECK(escape_xml("a<b & \"c\" 'd'>") == "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;");
  const std::string page = html_page("t<1>", {{"zoo", "/z&z"}}, html_table({"a"}, {{"<script>"}}));
  CHECK(xml_error(page).empty());
  CHECK(page.find("<script>") == std::string::npos);
  CHECK(page.find("&lt;script&gt;") != std::string::npos);
  CHECK(page.find("/z&amp;z") != std::string::npos);
}

TEST_CASE("axes get round ticks") {
  const Axis a = nice_axis(0.03, 0.97);
  CHECK(a.lo == 0.0);
  CHECK(a.hi == doctest::Approx(1.0));
  REQUIRE(a.ticks.size() == 6);
  CHECK(a.ticks[1] == doctest::Approx(0.2));
  CHECK(tick_label(a.ticks[1], 0.2) == "0.2");
  const Axis b = nice_axis(120, 480, 4);  // step 100
  CHECK(b.lo == 100.0);
  CHECK(b.hi == 500.0);
  CHECK(tick_label(b.ticks[1], 100) == "200");
  CHECK(tick_label(2e-6, 1e-6) == "2e-06");  // tiny steps in short scientific form
  const Axis one = nice_axis(5, 5);          // a single value still gets a range around it
  CHECK(one.lo < 5.0);
  CHECK(one.hi > 5.0);
  CHECK(svg_number(12.5) == "12.5");
  CHECK(svg_number(-0.001) == "0");
}

TEST_CASE("line chart: one path per series, gaps at missing values, escaped names") {
  ChartFrame f("loss <train>", "epoch", "loss");
  const std::string svg = line_chart(f, {{"a<b", {1, 2, 3, 4}, {1.0, std::nan(""), 2.0, 3.0}, "", false},
                                         {"c", {1, 4}, {0.5, 0.5}, "#123456", true}});
  CHECK(xml_error(svg).empty());
  CHECK(count(svg, "<g class=\"series\"") == 2);
  CHECK(svg.find("a<b") == std::string::npos);
  CHECK(svg.find("a&lt;b") != std::string::npos);
  CHECK(svg.find("<title>loss &lt;train&gt;</title>") != std::string::npos);
  const size_t d = svg.find("<path d=\"");
  REQUIRE(d != std::string::npos);
  const std::string path = svg.substr(d + 9, svg.find('"', d + 9) - d - 9);
  CHECK(count(path, "M") == 2);  // the NaN splits the line
  CHECK(count(path, "L") == 1);
  CHECK(svg.find("stroke-dasharray") != std::string::npos);
  CHECK(count(svg, "<g class=\"legend\">") == 1);
}

TEST_CASE("bar chart: heights proportional to values, n/a for missing, a reference line") {
  ChartFrame f("AUC", "label", "AUC");
  f.y_min = 0.0;
  f.y_max = 1.0;
  const std::string svg = bar_chart(f, {"x", "y"}, {{"probex", {1.0, 0.5}, ""}, {"dense", {0.25, std::nan("")}, ""}},
                                    0.5, "chance");
  CHECK(xml_error(svg).empty());
  const std::vector<double> h = attribute_values(svg, "rect class=\"bar\"", "height");
  REQUIRE(h.size() == 3);
  // Category by category: x's probex (1.0) and dense (0.25), then y's probex (0.5).
  CHECK(h[0] == doctest::Approx(4 * h[1]).epsilon(0.01));
  CHECK(h[0] == doctest::Approx(2 * h[2]).epsilon(0.01));
  CHECK(count(svg, ">n/a</text>") == 1);
  CHECK(count(svg, "class=\"reference\"") == 1);
}

TEST_CASE("scatter chart: one circle per finite point, in its group, with its tooltip") {
  ChartFrame f("map", "PC1", "PC2");
  const std::string svg = scatter_chart(f, {{0, 0, 0, "m<0>"}, {1, 1, 1, ""}, {std::nan(""), 0, 1, ""}},
                                        {{"g0", "#111111"}, {"g1", "#222222"}});
  CHECK(xml_error(svg).empty());
  CHECK(count(svg, "class=\"point\"") == 2);
  CHECK(count(svg, "<g class=\"points\"") == 2);
  CHECK(svg.find("<title>m&lt;0&gt;</title>") != std::string::npos);
}

TEST_CASE("symmetric eigen-decomposition of a known matrix") {
  std::vector<double> values, vectors;
  symmetric_eigen({2, 1, 0, 1, 2, 0, 0, 0, 5}, 3, &values, &vectors);
  CHECK(values[0] == doctest::Approx(5));
  CHECK(values[1] == doctest::Approx(3));
  CHECK(values[2] == doctest::Approx(1));
  CHECK(std::fabs(vectors[2]) == doctest::Approx(1));  // e_3
  CHECK(std::fabs(vectors[3]) == doctest::Approx(std::sqrt(0.5)));
  CHECK(vectors[3] * vectors[4] > 0);  // (1, 1, 0) / sqrt 2
}

TEST_CASE("PCA of a known set gives the known axes, shares and coordinates") {
  // Points mean + t a + s b with a, b orthonormal, sum t^2 = 20 > sum s^2 = 4 and t, s uncorrelated:
  // axis 1 is a (20/24 of the variance), axis 2 is b (4/24), coordinates (t, s) up to the axes' signs.
  const double t[4] = {-3, -1, 1, 3}, s[4] = {1, -1, -1, 1};
  for (size_t d : {3, 6}) {  // n > d: covariance; n < d: the Gram matrix
    CAPTURE(d);
    // The first d entries are used; a's largest-magnitude entry is negative: the sign rule must flip it.
    const double a[6] = {0.6, -0.8, 0, 0, 0, 0}, b[6] = {0, 0, 1, 0, 0, 0};
    std::vector<float> x;
    for (size_t i = 0; i < 4; ++i) {
      for (size_t j = 0; j < d; ++j) x.push_back(static_cast<float>(7.0 + t[i] * a[j] + s[i] * b[j]));
    }
    const Pca2 p = pca_2d(x.data(), 4, d);
    CHECK(p.explained[0] == doctest::Approx(20.0 / 24));
    CHECK(p.explained[1] == doctest::Approx(4.0 / 24));
    for (size_t j = 0; j < d; ++j) {
      CHECK(p.axes[j] == doctest::Approx(-a[j]).epsilon(1e-5));
      CHECK(p.axes[d + j] == doctest::Approx(b[j]).epsilon(1e-5));
      CHECK(p.mean[j] == doctest::Approx(7.0));
    }
    for (size_t i = 0; i < 4; ++i) {
      CHECK(p.points[i * 2] == doctest::Approx(-t[i]).epsilon(1e-5));
      CHECK(p.points[i * 2 + 1] == doctest::Approx(s[i]).epsilon(1e-5));
    }
  }
  const float same[6] = {1, 2, 1, 2, 1, 2};  // no variance: zero axes and points, no NaN
  const Pca2 flat = pca_2d(same, 3, 2);
  CHECK(flat.points == std::vector<double>(6, 0.0));
  CHECK(flat.explained[0] == 0.0);
}

TEST_CASE("the training report page: well-formed, escaped, every chart of every tree") {
  const TreeReport r = synthetic_tree();
  Facts facts = training_facts("/zoo", TreeTrainOptions());
  const std::string page = training_report_html(facts, {r, r});
  CHECK(xml_error(page) == "");
  CHECK(count(page, "<section class=\"tree\">") == 2);
  CHECK(count(page, "class=\"chart line-chart\"") == 4);               // loss and val curves per tree
  CHECK(count(page, "class=\"chart bar-chart\"") == 2);                // per-label AUC per tree
  CHECK(count(page, "class=\"chart scatter-chart\"") == 2 * (1 + 3));  // by tree, then one per label
  CHECK(page.find("tree&lt;&amp;&gt;") != std::string::npos);
  CHECK(page.find("tree<&>") == std::string::npos);
  // Curves of the trained methods only; the undefined AUC of label 1 is n/a for both of them.
  CHECK(count(page, "data-name=\"chance\"") == 0);
  CHECK(count(page, ">n/a</text>") == 2 * 2);
  // The by-tree map holds this tree's 4 test models and the other tree's 2.
  CHECK(count(page, "data-name=\"other\"") == 2);
  CHECK(count(page, "class=\"point\"") == 2 * (6 + 3 * 4));
}

TEST_CASE("the zero-shot report page: curves, scores and the map by class") {
  ZeroShotReport r;
  r.tree = "mlp-a";
  r.seen = {"Bag", "Coat"};
  r.unseen = {"Sandal"};
  r.test = 2;
  r.test_holdout = 1;
  ZeroShotMethod probex;
  probex.method = "probex";
  probex.evals = {{1, 2.0, 0.5, 0.3}, {11, 1.0, 0.75, 0.6}};
  ZeroShotMethod chance;
  chance.method = "chance";
  r.methods = {probex, chance};
  r.embedding_width = 3;
  r.test_embeddings = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  r.test_classes = {0, 1, 2};
  const std::string page = zero_shot_report_html({{"task", "detector"}}, {r});
  CHECK(xml_error(page) == "");
  CHECK(count(page, "class=\"chart line-chart\"") == 2);
  CHECK(count(page, "class=\"chart bar-chart\"") == 1);
  CHECK(count(page, "class=\"chart scatter-chart\"") == 1);
  CHECK(count(page, "class=\"point\"") == 3);
  CHECK(page.find("Sandal (unseen)") != std::string::npos);
  CHECK(count(page, "<g class=\"series\"") == 3);  // loss; val and val_holdout top-1
}

TEST_CASE("the quantization report page: a row per storage type and tree, four bar charts") {
  QuantCost f32{"f32", 4000, {"a<1>", "b"}, {{6, 60, 0, 0.0, 0.0, 1.0}, {6, 60, 0, 0.0, 0.0, 1.0}}};
  QuantCost int8{"int8", 1000, {"a<1>", "b"}, {{6, 60, 15, 0.25, 0.02, 0.999}, {6, 60, 0, 0.0, 0.001, 0.9999}}};
  const std::string page = quantization_report_html({{"zoo", "z"}}, {f32, int8});
  CHECK(xml_error(page) == "");
  CHECK(count(page, "class=\"chart bar-chart\"") == 4);  // size, flips, probability, cosine
  CHECK(count(page, "<tr><td>") == 4);
  CHECK(page.find("a&lt;1&gt;") != std::string::npos);
  CHECK(page.find("<td>0.2500</td>") != std::string::npos);  // int8 size vs f32 and a's flip rate
  CHECK(page.find("<td>0.99900000</td>") != std::string::npos);
  // Sizes: 1 bar per storage type; flips, probability and cosine: one per tree and storage type.
  CHECK(count(page, "class=\"bar\"") == 2 + 3 * 4);
}
