#include "converter/expert/expert_choice.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace probex::convert {
namespace {

std::string three_decimals(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

bool eligible(const ExpertCandidate& c) { return c.fits && c.runnable && c.trained; }

// "mvprobe 35.0 MiB (36750272 bytes)" for every candidate, with "not runnable on devices" where so.
std::string sizes(const ExpertChoice& choice) {
  std::string out;
  for (const ExpertCandidate& c : choice.candidates) {
    out += (out.empty() ? "" : ", ") + c.expert + " " + format_bytes(c.bytes) + " (" + std::to_string(c.bytes) +
           " bytes" + (c.runnable ? "" : ", not runnable on devices") + ")";
  }
  return out;
}

}  // namespace

size_t dense_parameter_count(size_t inputs, size_t r_t, size_t d_y) { return inputs * r_t + r_t + d_y * r_t + d_y; }

ExpertCandidate sized_candidate(const std::string& expert, size_t parameters, bool runnable, uint64_t budget_bytes) {
  ExpertCandidate c;
  c.expert = expert;
  c.parameters = parameters;
  c.bytes = static_cast<uint64_t>(parameters) * 4;
  c.fits = c.bytes <= budget_bytes;
  c.runnable = runnable;
  return c;
}

bool some_expert_fits(const ExpertChoice& choice, const std::string& tree, std::string* error) {
  for (const ExpertCandidate& c : choice.candidates) {
    if (c.fits && c.runnable) return true;
  }
  *error = "tree " + tree + ": no expert the device runtime can run fits --max-expert-bytes " +
           format_bytes(choice.budget_bytes) + " (" + std::to_string(choice.budget_bytes) +
           " bytes, float32): " + sizes(choice);
  return false;
}

bool choose_expert(ExpertChoice* choice, const std::string& tree, std::string* error) {
  const ExpertCandidate* best = nullptr;
  for (const ExpertCandidate& c : choice->candidates) {
    if (!eligible(c)) continue;
    if (best == nullptr || c.val_bit > best->val_bit || (c.val_bit == best->val_bit && c.bytes < best->bytes))
      best = &c;
  }
  if (best == nullptr) {
    if (some_expert_fits(*choice, tree, error)) {
      *error = "tree " + tree + ": no expert that fits the budget was trained";  // not reached from train_tree
    }
    return false;
  }
  choice->chosen = best->expert;
  // The others that competed, best val first, then those left out and why.
  std::vector<const ExpertCandidate*> others;
  for (const ExpertCandidate& c : choice->candidates) {
    if (&c != best && eligible(c)) others.push_back(&c);
  }
  std::stable_sort(others.begin(), others.end(),
                   [](const ExpertCandidate* a, const ExpertCandidate* b) { return a->val_bit > b->val_bit; });
  std::string reason = "auto: " + best->expert + " (val bit " + three_decimals(best->val_bit) + ")";
  for (size_t i = 0; i < others.size(); ++i) {
    reason += (i ? ", " : " over ") + others[i]->expert + " (" + three_decimals(others[i]->val_bit) + ")";
  }
  std::string left_out;
  for (const ExpertCandidate& c : choice->candidates) {
    if (&c == best || eligible(c)) continue;
    left_out += (left_out.empty() ? "" : ", ") + c.expert;
    if (!c.fits) {
      left_out += " refused: " + format_bytes(c.bytes) + " > " + format_bytes(choice->budget_bytes) + " budget";
    } else {
      left_out += " not runnable on devices";
    }
  }
  if (!left_out.empty()) reason += "; " + left_out;
  choice->reason = reason;
  return true;
}

std::string candidate_status(const ExpertCandidate& c, const std::string& chosen) {
  if (!c.fits) return "refused by the budget";
  if (!c.runnable) return "not runnable on devices";
  if (c.expert == chosen) return "chosen";
  return "not chosen (lower val bit accuracy)";
}

bool parse_byte_size(const std::string& text, uint64_t* bytes) {
  size_t i = 0;
  uint64_t value = 0;
  constexpr uint64_t kMax = uint64_t{1} << 63;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    const uint64_t digit = static_cast<uint64_t>(text[i] - '0');
    if (value > (kMax - digit) / 10) return false;
    value = value * 10 + digit;
    ++i;
  }
  if (i == 0) return false;
  std::string suffix;
  for (; i < text.size(); ++i) suffix.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(text[i]))));
  unsigned shift = 0;
  if (suffix.empty() || suffix == "b") {
    shift = 0;
  } else if (suffix == "k" || suffix == "kib") {
    shift = 10;
  } else if (suffix == "m" || suffix == "mib") {
    shift = 20;
  } else if (suffix == "g" || suffix == "gib") {
    shift = 30;
  } else {
    return false;
  }
  if (value == 0 || value > (kMax >> shift)) return false;
  *bytes = value << shift;
  return true;
}

std::string format_bytes(uint64_t bytes) {
  const char* const units[] = {"KiB", "MiB", "GiB"};
  if (bytes < 1024) return std::to_string(bytes) + (bytes == 1 ? " byte" : " bytes");
  int u = 0;
  uint64_t unit = 1024;
  while (u < 2 && bytes >= unit * 1024) {
    unit *= 1024;
    ++u;
  }
  if (bytes % unit == 0) return std::to_string(bytes / unit) + " " + units[u];
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.1f %s", static_cast<double>(bytes) / static_cast<double>(unit), units[u]);
  return buf;
}

}  // namespace probex::convert
