// The gRPC side of the side-by-side benchmark (bench/compare/run.sh): a
// gRPC C++ echo server with the callback API, the counterpart of
// `irpc-bench serve`. Op answers with the request's bytes.
//
//   irpc-bench-grpc-server
//
// Listens on 127.0.0.1 (any free port), prints "grpc://127.0.0.1:PORT"
// when ready, and runs until SIGTERM or SIGINT, then shuts down.
#include <grpcpp/grpcpp.h>

#include <csignal>
#include <cstdio>
#include <memory>
#include <pthread.h>
#include <thread>

#include "echo.grpc.pb.h"

namespace {

class EchoImpl final : public irpcbench::Echo::CallbackService {
  grpc::ServerUnaryReactor *Op(grpc::CallbackServerContext *ctx,
                               const irpcbench::Blob *req,
                               irpcbench::Blob *resp) override {
    resp->set_data(req->data());
    grpc::ServerUnaryReactor *r = ctx->DefaultReactor();
    r->Finish(grpc::Status::OK);
    return r;
  }
};

} // namespace

int main() {
  // Signals go to the waiting thread only (blocked before any thread).
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  EchoImpl service;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.SetMaxReceiveMessageSize(16 << 20);
  builder.SetMaxSendMessageSize(16 << 20);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::fprintf(stderr, "irpc-bench-grpc-server: cannot listen\n");
    return 1;
  }
  std::printf("grpc://127.0.0.1:%d\n", port);
  std::fflush(stdout);
  std::thread waiter([&server, &set] {
    int sig = 0;
    sigwait(&set, &sig);
    server->Shutdown();
  });
  server->Wait();
  waiter.join();
  return 0;
}
