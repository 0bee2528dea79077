// The gRPC side of the side-by-side benchmark (bench/compare/run.sh): a
// gRPC C++ client measuring what the other clients of the comparison
// measure, against irpc-bench-grpc-server:
//   latency     empty unary calls one at a time (p50, p99);
//   inflight_64 calls per second with 64 in flight on one channel (the
//               callback API, a new call started as each one completes);
//   echo_64KiB, echo_1MiB
//               echo calls one at a time: MB/s of request payload.
//
//   irpc-bench-grpc-client [--seconds S] grpc://HOST:PORT
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "echo.grpc.pb.h"

namespace {

uint64_t now_ns() {
  return (uint64_t)std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

uint64_t count_for(double seconds, double per_s, uint64_t min) {
  double n = seconds * per_s;
  return n < (double)min ? min : (uint64_t)n;
}

double pct_us(std::vector<uint64_t> &ns, double p) {
  std::sort(ns.begin(), ns.end());
  return (double)ns[(size_t)(p * (double)(ns.size() - 1) + 0.5)] / 1000.0;
}

// Calls with `inflight` going at once; a failed call is counted.
struct Rate {
  irpcbench::Echo::Stub *stub;
  irpcbench::Blob req;
  std::mutex m;
  std::condition_variable cv;
  uint64_t target = 0;
  std::atomic<uint64_t> started{0}, done{0}, failed{0};

  struct Call {
    grpc::ClientContext ctx;
    irpcbench::Blob resp;
  };

  void claim() {
    if (started++ < target)
      invoke();
  }

  void invoke() {
    Call *call = new Call;
    stub->async()->Op(&call->ctx, &req, &call->resp,
                      [this, call](grpc::Status s) {
                        if (!s.ok())
                          failed++;
                        delete call;
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

bool call(irpcbench::Echo::Stub &stub, const irpcbench::Blob &req,
          irpcbench::Blob &resp) {
  grpc::ClientContext ctx;
  return stub.Op(&ctx, req, &resp).ok() &&
         resp.data().size() == req.data().size();
}

double mbps(irpcbench::Echo::Stub &stub, size_t size, double seconds,
            double per_s, uint64_t &failed) {
  irpcbench::Blob req, resp;
  req.set_data(std::string(size, '\0'));
  for (int i = 0; i < 3; i++)
    failed += !call(stub, req, resp);
  uint64_t m = count_for(seconds, per_s, 20);
  uint64_t t0 = now_ns();
  for (uint64_t i = 0; i < m; i++)
    failed += !call(stub, req, resp);
  return (double)m * (double)size / ((double)(now_ns() - t0) / 1e9) / 1e6;
}

} // namespace

int main(int argc, char **argv) {
  double seconds = 1.0;
  const char *address = nullptr;
  for (int i = 1; i < argc; i++) {
    if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc)
      seconds = std::atof(argv[++i]);
    else if (!std::strncmp(argv[i], "grpc://", 7) && !address)
      address = argv[i] + 7;
    else
      address = nullptr, i = argc;
  }
  if (!address) {
    std::fprintf(stderr, "usage: irpc-bench-grpc-client [--seconds S] "
                         "grpc://HOST:PORT\n");
    return 2;
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(16 << 20);
  args.SetMaxSendMessageSize(16 << 20);
  auto channel = grpc::CreateCustomChannel(
      address, grpc::InsecureChannelCredentials(), args);
  auto stub = irpcbench::Echo::NewStub(channel);
  uint64_t failed = 0;
  irpcbench::Blob empty, resp;
  for (int i = 0; i < 2000; i++) // connect and warm up
    failed += !call(*stub, empty, resp);

  uint64_t n = count_for(seconds, 20000, 2000);
  std::vector<uint64_t> lat(n);
  for (uint64_t i = 0; i < n; i++) {
    uint64_t t0 = now_ns();
    failed += !call(*stub, empty, resp);
    lat[i] = now_ns() - t0;
  }
  double p50 = pct_us(lat, 0.5), p99 = pct_us(lat, 0.99);
  std::printf("tcp  latency        p50 %7.1f us  p99 %7.1f us\n", p50, p99);

  Rate k;
  k.stub = stub.get();
  uint64_t m = count_for(seconds, 100000, 256);
  double rate = (double)m / ((double)k.run(64, m) / 1e9);
  failed += k.failed;
  std::printf("tcp  inflight_64    %10.0f calls/s\n", rate);
  std::printf("tcp  echo_64KiB     %7.0f MB/s\n",
              mbps(*stub, 64 * 1024, seconds, 5000, failed));
  std::printf("tcp  echo_1MiB      %7.0f MB/s\n",
              mbps(*stub, 1 << 20, seconds, 500, failed));
  if (failed) {
    std::fprintf(stderr, "irpc-bench-grpc-client: %llu calls failed\n",
                 (unsigned long long)failed);
    return 1;
  }
  return 0;
}
