// The Ice side of the side-by-side benchmark: a ZeroC Ice 3.7 (C++11)
// echo server, the counterpart of `irpc-bench serve ice://...`. Any
// operation on identity "echo" is answered Ok with the request's
// encapsulation as it came (a Blobject: nothing is decoded).
//
//   irpc-bench-ice-server [--port N] [--Ice.Prop=value ...]
//
// Listens on 127.0.0.1 (port 0: any free one), prints
// "ice://127.0.0.1:PORT" when ready, and runs until SIGTERM or SIGINT,
// then shuts down and exits 0.
#include <Ice/Ice.h>
#include <IceUtil/CtrlCHandler.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace {

class Echo : public Ice::BlobjectArray {
public:
  bool ice_invoke(std::pair<const Ice::Byte *, const Ice::Byte *> in,
                  std::vector<Ice::Byte> &out, const Ice::Current &) override {
    out.assign(in.first, in.second);
    return true;
  }
};

} // namespace

int main(int argc, char **argv) {
  std::string port = "0";
  Ice::StringSeq args;
  for (int i = 1; i < argc; i++) {
    if (!std::strcmp(argv[i], "--port") && i + 1 < argc)
      port = argv[++i];
    else if (!std::strncmp(argv[i], "--Ice.", 6))
      args.push_back(argv[i]);
    else {
      std::fprintf(stderr,
                   "usage: irpc-bench-ice-server [--port N] [--Ice.X=v]\n");
      return 2;
    }
  }
  try {
    // Signals go to the handler's thread only (set before any thread).
    IceUtil::CtrlCHandler ctrlC;
    Ice::InitializationData init;
    init.properties = Ice::createProperties(args);
    // Room for the 10 MiB echo of the interop checks (the default maximum
    // is 1 MiB, header included).
    if (init.properties->getProperty("Ice.MessageSizeMax").empty())
      init.properties->setProperty("Ice.MessageSizeMax", "16384");
    Ice::CommunicatorHolder ich(init);
    auto communicator = ich.communicator();
    ctrlC.setCallback([communicator](int) { communicator->shutdown(); });
    auto adapter = communicator->createObjectAdapterWithEndpoints(
        "Echo", "tcp -h 127.0.0.1 -p " + port);
    adapter->add(std::make_shared<Echo>(), Ice::stringToIdentity("echo"));
    adapter->activate();
    auto info = std::dynamic_pointer_cast<Ice::IPEndpointInfo>(
        adapter->getEndpoints().front()->getInfo());
    std::printf("ice://127.0.0.1:%d\n", info ? info->port : 0);
    std::fflush(stdout);
    communicator->waitForShutdown();
  } catch (const std::exception &e) {
    std::fprintf(stderr, "irpc-bench-ice-server: %s\n", e.what());
    return 1;
  }
  return 0;
}
