// The Ice side of the side-by-side benchmark: a ZeroC Ice 3.7 (C++11)
// client measuring what `irpc-bench rpc` measures, against any echo server
// that speaks the ice protocol (an Ice server or `irpc-bench serve
// ice://...`), the same way:
//   latency   empty two-way calls one at a time (p50, p99);
//   rate      calls per second with 1, 64 and 1,024 calls in flight on one
//             connection (asynchronous invocations, a new call started as
//             each one completes);
//   bulk      64 KiB and 1 MiB echo calls one at a time: MB/s of request
//             payload.
// An empty call carries an empty encapsulation; the 1 MiB call an
// encapsulation of 1 MiB of zeros (what irpc sends for the same payloads).
//
//   irpc-bench-ice-client [--seconds S] [--json FILE] ADDRESS
//
// ADDRESS is ice://host:port (identity "echo") or an Ice proxy string.
#include <Ice/Ice.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

uint64_t now_ns() {
  return (uint64_t)std::chrono::duration_cast<std::chrono::nanoseconds>(
             Clock::now().time_since_epoch())
      .count();
}

uint64_t count_for(double seconds, double per_s, uint64_t min) {
  double n = seconds * per_s;
  return n < (double)min ? min : (uint64_t)n;
}

double pct_us(std::vector<uint64_t> &ns, double p) {
  std::sort(ns.begin(), ns.end());
  size_t i = (size_t)(p * (double)(ns.size() - 1) + 0.5);
  return (double)ns[i] / 1000.0;
}

std::vector<Ice::Byte> encaps(size_t payload) {
  std::vector<Ice::Byte> v(payload + 6, 0);
  uint32_t size = (uint32_t)(payload + 6);
  std::memcpy(v.data(), &size, 4); // little-endian hosts only
  v[4] = 1;
  v[5] = 1;
  return v;
}

// Calls with `inflight` going at once; a failed call is counted and the
// run goes on (as irpc-bench rpc does).
struct Rate {
  Ice::ObjectPrxPtr prx;
  std::vector<Ice::Byte> in;
  std::mutex m;
  std::condition_variable cv;
  uint64_t target = 0;
  std::atomic<uint64_t> started{0}, done{0}, failed{0};

  // Takes the next call of the run, if any is left, and starts it.
  void claim() {
    if (started++ < target)
      invoke();
  }

  void invoke() {
    auto p = std::make_pair(in.data(), in.data() + in.size());
    prx->ice_invokeAsync(
        "op", Ice::OperationMode::Normal, p,
        [this](bool ok, std::pair<const Ice::Byte *, const Ice::Byte *>) {
          if (!ok)
            failed++;
          finish();
        },
        [this](std::exception_ptr) {
          failed++;
          finish();
        });
  }

  void finish() {
    if (++done == target) {
      std::lock_guard<std::mutex> lk(m);
      cv.notify_all();
    } else {
      claim();
    }
  }

  uint64_t run(size_t inflight, uint64_t n) {
    target = n;
    started = 0;
    done = 0;
    uint64_t t0 = now_ns();
    for (size_t i = 0; i < inflight && i < n; i++)
      claim();
    std::unique_lock<std::mutex> lk(m);
    cv.wait(lk, [this] { return done.load() >= target; });
    return now_ns() - t0;
  }
};

// MB/s of echo calls of size bytes, one at a time.
double echo_mbps(const Ice::ObjectPrxPtr &prx, size_t size, double seconds,
                 double per_s, uint64_t &failed) {
  std::vector<Ice::Byte> big = encaps(size), out;
  auto p = std::make_pair(big.data(), big.data() + big.size());
  for (int i = 0; i < 3; i++)
    failed += !prx->ice_invoke("op", Ice::OperationMode::Normal, p, out);
  uint64_t m = count_for(seconds, per_s, 20);
  uint64_t t0 = now_ns();
  for (uint64_t i = 0; i < m; i++) {
    failed += !prx->ice_invoke("op", Ice::OperationMode::Normal, p, out);
    if (out.size() != big.size())
      failed++;
  }
  return (double)m * (double)size / ((double)(now_ns() - t0) / 1e9) / 1e6;
}

std::string to_proxy(const std::string &address) {
  const std::string scheme = "ice://";
  if (address.compare(0, scheme.size(), scheme) != 0)
    return address;
  std::string rest = address.substr(scheme.size());
  std::string hostport = rest.substr(0, rest.find('/'));
  size_t colon = hostport.rfind(':');
  std::string host =
      colon == std::string::npos ? hostport : hostport.substr(0, colon);
  std::string port =
      colon == std::string::npos ? "4061" : hostport.substr(colon + 1);
  return "echo:tcp -h " + host + " -p " + port;
}

} // namespace

int main(int argc, char **argv) {
  double seconds = 1.0;
  const char *json = nullptr, *address = nullptr;
  for (int i = 1; i < argc; i++) {
    if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc)
      seconds = std::atof(argv[++i]);
    else if (!std::strcmp(argv[i], "--json") && i + 1 < argc)
      json = argv[++i];
    else if (argv[i][0] != '-' && !address)
      address = argv[i];
    else
      address = nullptr, i = argc;
  }
  if (!address) {
    std::fprintf(stderr, "usage: irpc-bench-ice-client [--seconds S] "
                         "[--json FILE] ADDRESS\n");
    return 2;
  }
  FILE *jf = nullptr;
  if (json && !(jf = std::fopen(json, "w"))) {
    std::perror(json);
    return 1;
  }
  try {
    Ice::InitializationData init;
    init.properties = Ice::createProperties();
    init.properties->setProperty("Ice.MessageSizeMax", "4096");
    Ice::CommunicatorHolder ich(init);
    auto prx = ich->stringToProxy(to_proxy(address));
    Rate k;
    k.prx = prx;
    k.in = encaps(0);
    std::vector<Ice::Byte> out;
    auto empty = std::make_pair(k.in.data(), k.in.data() + k.in.size());
    uint64_t failed = 0;
    for (int i = 0; i < 2000; i++) // connect and warm up
      failed += !prx->ice_invoke("op", Ice::OperationMode::Normal, empty, out);

    // (a) latency
    uint64_t n = count_for(seconds, 20000, 2000);
    std::vector<uint64_t> lat(n);
    for (uint64_t i = 0; i < n; i++) {
      uint64_t t0 = now_ns();
      failed += !prx->ice_invoke("op", Ice::OperationMode::Normal, empty, out);
      lat[i] = now_ns() - t0;
    }
    double p50 = pct_us(lat, 0.5), p99 = pct_us(lat, 0.99);
    std::printf("tcp  latency        p50 %7.1f us  p99 %7.1f us\n", p50, p99);
    if (jf)
      std::fprintf(jf,
                   "[{\"transport\":\"tcp\",\"case\":\"latency\","
                   "\"p50_us\":%.3f,\"p99_us\":%.3f}",
                   p50, p99);

    // (b) rate with 1, 64, 1024 in flight
    static const size_t depths[] = {1, 64, 1024};
    for (size_t d : depths) {
      uint64_t m = count_for(seconds, d == 1 ? 20000 : 100000, d * 4);
      double rate = (double)m / ((double)k.run(d, m) / 1e9);
      std::printf("tcp  inflight_%-5zu %10.0f calls/s\n", d, rate);
      if (jf)
        std::fprintf(jf,
                     ",\n{\"transport\":\"tcp\",\"case\":\"inflight_%zu\","
                     "\"calls_per_s\":%.1f}",
                     d, rate);
    }
    failed += k.failed;

    // (c) 64 KiB and 1 MiB echo, one call at a time
    double kbps = echo_mbps(prx, 64 * 1024, seconds, 5000, failed);
    std::printf("tcp  echo_64KiB     %7.0f MB/s\n", kbps);
    double mbps = echo_mbps(prx, 1u << 20, seconds, 500, failed);
    std::printf("tcp  echo_1MiB      %7.0f MB/s\n", mbps);
    if (jf) {
      std::fprintf(jf,
                   ",\n{\"transport\":\"tcp\",\"case\":\"echo_64KiB\","
                   "\"mb_per_s\":%.1f},\n{\"transport\":\"tcp\","
                   "\"case\":\"echo_1MiB\",\"mb_per_s\":%.1f}]\n",
                   kbps, mbps);
      std::fclose(jf);
    }
    if (failed) {
      std::fprintf(stderr, "irpc-bench-ice-client: %llu calls failed\n",
                   (unsigned long long)failed);
      return 1;
    }
  } catch (const std::exception &e) {
    std::fprintf(stderr, "irpc-bench-ice-client: %s\n", e.what());
    return 1;
  }
  return 0;
}
