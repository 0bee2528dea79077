"""Encodes with ZeroC Ice the values slice1_test.c encodes with the code
generated from slice1.slice, writes them as `name hex` lines (the
encapsulation contents) to the file named by argv[1], then runs the test
program argv[2] (when given) with IRPC_SLICE1_ICE_VECTORS naming that file,
so that it compares. Exits with 77 (skipped) when this Python has no Ice.

Arguments are what a typed Ice proxy sends to a Blobject that records
them; return values and exceptions are what a typed Ice servant answers to
ice_invoke with those arguments. Everything runs in this process over
loopback TCP (collocation off, so everything is marshaled)."""
import os
import struct
import subprocess
import sys

try:
    import Ice
except ImportError:
    print("ZeroC Ice for Python is not installed: skipped")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
Ice.loadSlice(os.path.join(HERE, "slice1_ice.ice"))
import Test  # noqa: E402

S1 = Test.S1
captured = {}


class Recorder(Ice.Blobject):
    def ice_invoke(self, in_params, current):
        captured[current.operation] = (bytes(in_params)[6:], current.mode)
        return (True, bytes([6, 0, 0, 0, 1, 1]))


def prims():
    return S1.Prims(True, 0xFE, -2, 0x01020304, -1, 1.5, 2.25, "h\u00e9",
                    S1.Color.Blue)


class Store(S1.Store):
    def name(self, current):
        return "store"

    def echo(self, p, current):
        return p

    def hold(self, h, current):
        return h

    def sum(self, values, grid, current):
        return ([v for v in grid.values()], len(values), sum(values))

    def tagged(self, a, s, n, pt, names, c, scores, ints, grid, f, flag,
               small, big, node, current):
        return (a * 100, s)

    def fail(self, kind, current):
        if kind == 0:
            raise S1.TopError("bad", 7, "why", [S1.Point(1, 2)])
        if kind == 1:
            raise S1.MidError("r", 3, Ice.Unset)
        raise S1.OtherError(42)

    def getProxy(self, name, current):
        if not name:
            return None
        return S1.NodePrx.uncheckedCast(current.adapter.getCommunicator()
            .stringToProxy("cat/node -f facet:tcp -h 127.0.0.1 -p 10000"))

    def setProxy(self, n, current):
        return "null" if n is None else n.ice_getIdentity().name

    def paint(self, c, l, current):
        return c

    def peers(self, nodes, by_name, current):
        return nodes + [by_name[k] for k in sorted(by_name)]


def main():
    out = {}
    props = Ice.createProperties()
    props.setProperty("Ice.Default.SlicedFormat", "1")
    data = Ice.InitializationData()
    data.properties = props
    with Ice.initialize(data) as comm:
        ad = comm.createObjectAdapterWithEndpoints("A", "tcp -h 127.0.0.1")
        rec = ad.add(Recorder(), Ice.stringToIdentity("rec"))
        real = ad.add(Store(), Ice.stringToIdentity("store"))
        ad.activate()
        rec = S1.StorePrx.uncheckedCast(rec.ice_collocationOptimized(False))
        real = real.ice_collocationOptimized(False)

        def call(name, op, invoke):
            try:  # the recorder answers nothing the proxy can decode
                invoke(rec)
            except Ice.UnmarshalOutOfBoundsException:
                pass
            args, mode = captured.pop(op)
            out[name + "_args"] = args
            encaps = struct.pack("<iBB", 6 + len(args), 1, 1) + args
            ok, res = real.ice_invoke(op, mode, encaps)
            out[name + ("_return" if ok else "_exception")] = bytes(res)[6:]

        call("echo", "echo", lambda p: p.echo(prims()))
        pts = [S1.Point(1, 2)]
        grid = {9: S1.Point(7, 8)}
        holder = S1.Bundle(prims(), pts, ["n"] * 300, {"k": 5}, grid, None,
                           S1.Level.High)
        call("hold", "hold", lambda p: p.hold(holder))
        call("sum", "sum",
             lambda p: p.sum([1, 2, 3], {1: S1.Point(5, 6)}))
        call("tagged_none", "tagged",
             lambda p: p.tagged(2, Ice.Unset, Ice.Unset, Ice.Unset, Ice.Unset,
                                Ice.Unset, Ice.Unset, Ice.Unset, Ice.Unset,
                                Ice.Unset, Ice.Unset, Ice.Unset, Ice.Unset,
                                Ice.Unset))
        node = S1.NodePrx.uncheckedCast(comm.stringToProxy("n"))
        call("tagged_all", "tagged",
             lambda p: p.tagged(3, "x", 11, S1.Point(5, 6), ["x", "y"],
                                S1.Color.Green, {"k": 4}, [1, 2, 3],
                                {1: S1.Point(5, 6)}, 0.5, True, -7,
                                -2**63, node))
        for kind in range(3):
            call("fail%d" % kind, "fail", lambda p, k=kind: p.fail(k))
        call("get_proxy", "getProxy", lambda p: p.getProxy("x"))
        call("get_null", "getProxy", lambda p: p.getProxy(""))
        call("set_null", "setProxy", lambda p: p.setProxy(None))
        n1 = S1.NodePrx.uncheckedCast(
            comm.stringToProxy("n1:tcp -h 127.0.0.1 -p 4 -t 60000"))
        call("peers", "peers",
             lambda p: p.peers([n1, None], {"a": None, "b": n1}))
        call("paint", "paint",
             lambda p: p.paint(S1.Color.Blue, S1.Level.High))
        ad.destroy()
    with open(sys.argv[1], "w") as f:
        for k in sorted(out):
            f.write("%s %s\n" % (k, out[k].hex() or "-"))
    if len(sys.argv) > 2:
        env = dict(os.environ, IRPC_SLICE1_ICE_VECTORS=sys.argv[1])
        sys.exit(subprocess.call([sys.argv[2]], env=env))


main()
