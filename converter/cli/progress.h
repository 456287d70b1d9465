// A progress line for long workstation jobs, safe to advance from several threads. On a terminal it
// redraws one line (at most 5 times a second); in a log it prints a line at every 10%.
#pragma once

#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>

#include <unistd.h>

namespace probex::convert {

class Progress {
 public:
  Progress(std::string what, size_t total, bool enabled)
      : what_(std::move(what)), total_(total), enabled_(enabled && total > 0), tty_(isatty(STDERR_FILENO) == 1),
        start_(Clock::now()) {}

  void advance() {
    if (!enabled_) return;
    std::lock_guard<std::mutex> lock(mutex_);
    ++done_;
    const auto now = Clock::now();
    const bool finished = done_ == total_;
    if (tty_) {
      if (!finished && now - last_draw_ < std::chrono::milliseconds(200)) return;
    } else {
      const size_t decile = done_ * 10 / total_;
      if (!finished && decile == last_decile_) return;
      last_decile_ = decile;
    }
    last_draw_ = now;
    draw(now, finished);
  }

 private:
  using Clock = std::chrono::steady_clock;

  static std::string clock_text(double seconds) {
    const long s = static_cast<long>(seconds + 0.5);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%02ld:%02ld", s / 60, s % 60);
    return buf;
  }

  void draw(Clock::time_point now, bool finished) {
    constexpr int kWidth = 30;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double eta = elapsed / static_cast<double>(done_) * static_cast<double>(total_ - done_);
    const int filled = static_cast<int>(kWidth * done_ / total_);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(kWidth, '.');
    std::fprintf(stderr, "%s%s [%s] %zu/%zu  elapsed %s  ETA %s%s", tty_ ? "\r" : "", what_.c_str(), bar.c_str(), done_,
                 total_, clock_text(elapsed).c_str(), clock_text(eta).c_str(), tty_ && !finished ? "" : "\n");
    std::fflush(stderr);
  }

  std::string what_;
  size_t total_;
  bool enabled_;
  bool tty_;
  Clock::time_point start_;
  Clock::time_point last_draw_{};
  size_t last_decile_ = 0;
  size_t done_ = 0;
  std::mutex mutex_;
};

}  // namespace probex::convert
