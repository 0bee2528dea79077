# Ice's own proxy codec, for tests/interceptors/locator_test.c: reads
# lines on stdin and prints one line each.
#   encode: a stringified proxy -> the hex of Ice's encoding 1.1 of it
#   decode: the hex of an encoded proxy -> Ice's string of it ("null")
# Both go through a real Ice invocation on loopback (a Blobject servant),
# so the bytes are the ones Ice puts on the wire.
import os, sys, tempfile
import Ice

d = tempfile.mkdtemp()
f = os.path.join(d, "t.ice")
with open(f, "w") as fh:
    fh.write("module T { interface R { void take(Object* p); Object* give(); } }\n")
Ice.loadSlice(f)
import T

class B(Ice.Blobject):
    got = None
    give = None
    def ice_invoke(self, inParams, current):
        if current.operation == "take":
            B.got = bytes(inParams)
            return (True, bytes([6, 0, 0, 0, 1, 1]))
        return (True, B.give)

c = Ice.initialize(["--Ice.Default.Host=127.0.0.1"])
a = c.createObjectAdapterWithEndpoints("A", "tcp -h 127.0.0.1")
r = T.RPrx.uncheckedCast(a.add(B(), Ice.stringToIdentity("r")))
a.activate()
mode = sys.argv[1]
for line in sys.stdin:
    line = line.rstrip("\n")
    if mode == "encode":
        r.take(c.stringToProxy(line))
        print(B.got[6:].hex())
    else:
        body = bytes.fromhex(line)
        B.give = (len(body) + 6).to_bytes(4, "little") + bytes([1, 1]) + body
        p = r.give()
        print(c.proxyToString(p) if p else "null")
    sys.stdout.flush()
c.destroy()
