#!/usr/bin/python3
"""The ZeroC Ice peer of the interop suite (Ice for Python 3.7).

  peer.py server --slice Interop.ice [--endpoints E] [--adapter-id ID]
                 [--register-object NAME] [--Ice.Prop=value ...]
      Serves ::Interop::Test at identity "test". Prints
      "ready PORT PROXY" on stdout once it accepts connections, then runs
      until SIGTERM, SIGINT or the end of its standard input (the harness
      keeps a pipe open: if the harness dies, the server goes too), shuts
      down gracefully and exits 0.

  peer.py client --slice Interop.ice --proxy PROXY [--checks a,b,...]
                 [--Ice.Prop=value ...]
      Runs each check against the ::Interop::Test at PROXY and prints one
      line per check, "PASS name" or "FAIL name: why", then
      "done P passed F failed"; exits 0 when every check passed.

  peer.py echo --proxy PROXY [--checks a,b,...] [--large-size N]
                 [--Ice.Prop=value ...]
      The same for the protocol alone, against an echo server (any
      operation on identity "echo" answers the request's encapsulation):
      irpc-bench serve ice://... or irpc-bench-ice-server.

  peer.py grid --slice Interop.ice --proxy PROXY [--proxy PROXY ...]
                 --Ice.Default.Locator=...
      Resolves each proxy through the locator (an indirect "test@Adapter"
      or a well-known "name") and calls it: "PASS grid PROXY" or
      "FAIL grid PROXY: why".
"""
import argparse
import os
import signal
import stat
import sys
import threading
import uuid

import Ice

HERE = os.path.dirname(os.path.abspath(__file__))
MIB = 1 << 20


def load_slice(path):
    Ice.loadSlice("-I" + Ice.getSliceDir() + " " + path)


def properties(extra):
    """Properties common to both sides: room for a 10 MiB message."""
    props = Ice.createProperties(extra)
    props.setProperty("Ice.MessageSizeMax", "16384")  # KiB
    props.setProperty("Ice.Warn.Connections", "0")
    props.setProperty("Ice.Warn.Dispatch", "0")
    return props


def stop_on_stdin_eof(action):
    """When standard input is a pipe (the harness's), its end means the
    harness is gone."""
    try:
        if not stat.S_ISFIFO(os.fstat(0).st_mode):
            return
    except OSError:
        return

    def watch():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except (OSError, ValueError):
            pass
        action()

    threading.Thread(target=watch, daemon=True).start()


# ---- The server ----


def make_servant():
    import Interop

    class TestI(Interop.Test):
        def __init__(self):
            self.cond = threading.Condition()
            self.npings = 0
            self.log = []
            self.attempts = {}
            self.ended = {}  # label -> "graceful" or "lost"
            self.waiting = {}  # label -> [Ice.Future]

        def pings(self, current):
            with self.cond:
                self.npings += 1
                return self.npings

        def primitives(self, flag, octet, i16, i32, i64, f32, f64, text, current):
            return (not flag, 255 - octet, ~i16, ~i32, ~i64, -f32, -f64,
                    "<" + text + ">")

        def echoEverything(self, e, current):
            r = Interop.Everything(
                e.flag, e.octet, e.i16,
                ((e.i32 + 1 + 2**31) % 2**32) - 2**31, e.i64, e.f32, e.f64,
                e.text, e.color, Interop.Point(e.point.y, e.point.x),
                list(reversed(e.ints)), dict(e.labels))
            return (r, e)

        def reverseContainers(self, c, current):
            return Interop.Containers(
                c.bools[::-1], c.bytes[::-1], c.shorts[::-1], c.ints[::-1],
                c.longs[::-1], c.floats[::-1], c.doubles[::-1],
                c.strings[::-1], c.colors[::-1], c.points[::-1],
                c.nested[::-1], c.labels, c.pointsById, c.intsByName)

        def nextColor(self, c, current):
            return {Interop.Color.Red: Interop.Color.Green,
                    Interop.Color.Green: Interop.Color.Blue,
                    Interop.Color.Blue: Interop.Color.Red}[c]

        def optionals(self, i, s, seq, current):
            unset = Ice.Unset
            return (s,
                    unset if i is unset else 2 * i,
                    unset if i is unset else Interop.Point(i, -i),
                    unset if seq is unset else len(seq))

        def fail(self, which, current):
            if which == 1:
                raise Interop.BaseError("base")
            if which == 2:
                raise Interop.DerivedError("derived", 7, "more")
            if which == 3:
                raise Interop.DerivedError("bare", 8)
            if which == 4:
                raise Interop.OtherError(-5)

        def context(self, current):
            return dict(current.ctx)

        def note(self, message, current):
            with self.cond:
                self.log.append(message)

        def notes(self, current):
            with self.cond:
                s = ",".join(self.log)
                self.log = []
                return s

        def _attempt(self, key, current):
            with self.cond:
                n = self.attempts.get(key, 0) + 1
                self.attempts[key] = n
            if n == 1:
                current.con.close(Ice.ConnectionClose.Forcefully)
            return n

        def retried(self, key, current):
            return self._attempt(key, current)

        def notRetried(self, key, current):
            return self._attempt(key, current)

        def reverse(self, data, current):
            return data[::-1]

        def callback(self, cb, message, current):
            back = Interop.CallbackPrx.uncheckedCast(
                current.con.createProxy(cb.ice_getIdentity()))
            if cb.ice_getFacet():
                back = back.ice_facet(cb.ice_getFacet())
            return back.notifyAsync(message)

        def _ended(self, name, con):
            try:
                con.throwException()
                how = "open"
            except Ice.CloseConnectionException:
                how = "graceful"
            except Ice.LocalException:
                how = "lost"
            with self.cond:
                self.ended[name] = how
                waiting = self.waiting.pop(name, [])
            for f in waiting:
                f.set_result(how)

        def label(self, name, current):
            with self.cond:
                self.ended.pop(name, None)
            current.con.setCloseCallback(lambda con: self._ended(name, con))

        def closed(self, name, current):
            f = Ice.Future()
            with self.cond:
                how = self.ended.get(name)
                if how is None:
                    self.waiting.setdefault(name, []).append(f)
            if how is not None:
                f.set_result(how)
                return f

            def expire():
                with self.cond:
                    lst = self.waiting.get(name, [])
                    if f not in lst:
                        return
                    lst.remove(f)
                f.set_result("open")

            t = threading.Timer(10.0, expire)
            t.daemon = True
            t.start()
            return f

        def closeMe(self, current):
            current.con.close(Ice.ConnectionClose.Gracefully)

    return TestI()


def register_object(communicator, name, proxy):
    """Adds a well-known object to IceGrid through an admin session."""
    import IceGrid
    instance = communicator.getDefaultLocator().ice_getIdentity().category
    registry = IceGrid.RegistryPrx.checkedCast(
        communicator.stringToProxy(instance + "/Registry"))
    session = registry.createAdminSession("interop", "interop")
    try:
        admin = session.getAdmin()
        obj = proxy.ice_identity(Ice.stringToIdentity(name))  # same servant
        try:
            admin.removeObject(obj.ice_getIdentity())
        except IceGrid.ObjectNotRegisteredException:
            pass
        admin.addObjectWithType(obj, "::Interop::Test")
    finally:
        session.destroy()


def run_server(args, ice_args):
    import Interop  # noqa: F401  (loaded by load_slice)
    props = properties(ice_args)
    props.setProperty("Interop.Endpoints", args.endpoints)
    if args.adapter_id:
        props.setProperty("Interop.AdapterId", args.adapter_id)
    init = Ice.InitializationData()
    init.properties = props
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    stop_on_stdin_eof(stop.set)
    with Ice.initialize(init) as communicator:
        adapter = communicator.createObjectAdapter("Interop")
        ident = Ice.stringToIdentity("test")
        servant = make_servant()
        adapter.add(servant, ident)
        if args.register_object:
            adapter.add(servant, Ice.stringToIdentity(args.register_object))
        adapter.activate()
        direct = adapter.createDirectProxy(ident)
        if args.register_object:
            register_object(communicator, args.register_object,
                            adapter.createProxy(ident))
        info = adapter.getEndpoints()[0].getInfo()
        while not hasattr(info, "port"):  # ssl: the TCP info underneath
            info = info.underlying
        port = info.port
        print("ready %d %s" % (port, communicator.proxyToString(direct)),
              flush=True)
        while not stop.wait(3600):
            pass
        communicator.shutdown()
        communicator.waitForShutdown()
    return 0


# ---- The client ----


class Failed(Exception):
    pass


def short(v):
    r = repr(v).replace("\n", " ")
    return r if len(r) <= 160 else r[:150] + "...(%d chars)" % len(r)


def first_difference(what, got, want):
    """The path to the first member or element that differs."""
    if type(got) is type(want) and hasattr(want, "__dict__") and \
            not isinstance(want, Ice.EnumBase):
        for k in want.__dict__:
            if getattr(got, k, None) != getattr(want, k):
                return first_difference("%s.%s" % (what, k), getattr(got, k),
                                        getattr(want, k))
    if isinstance(got, (list, tuple)) and isinstance(want, (list, tuple)) \
            and len(got) == len(want):
        for i, (g, w) in enumerate(zip(got, want)):
            if g != w:
                return first_difference("%s[%d]" % (what, i), g, w)
    return "%s: got %s, want %s" % (what, short(got), short(want))


def expect(what, got, want):
    if got != want:
        raise Failed(first_difference(what, got, want))


def expect_raises(what, exc_type, fn, *a, **kw):
    try:
        fn(*a, **kw)
    except exc_type as e:
        return e
    except Exception as e:  # noqa: BLE001
        raise Failed("%s: got %s, want %s" % (what, type(e).__name__,
                                               exc_type.__name__))
    raise Failed("%s: returned, want %s" % (what, exc_type.__name__))


def i32(v):
    return ((v + 2**31) % 2**32) - 2**31


def check_primitives(t, ctx):
    long_text = "é✓ interop " * 40  # 520 bytes of UTF-8: a 5-byte size
    cases = [
        (True, 0, -32768, -2**31, -2**63, 1.5, -1e300, long_text),
        (False, 255, 32767, 2**31 - 1, 2**63 - 1, -0.25, 2.5e-300, ""),
        (True, 128, -1, 0, 1 << 40, 3.0e38, 0.1, "abc"),
    ]
    for c in cases:
        flag, octet, i16, v32, v64, f32, f64, text = c
        got = t.primitives(*c)
        # float: the value as a 32-bit float survives only if exact, which
        # the cases are (1.5, -0.25) or compared through Ice's own rounding.
        import struct
        f32r = struct.unpack("<f", struct.pack("<f", -f32))[0]
        want = (not flag, 255 - octet, ~i16, ~v32, ~v64, f32r, -f64,
                "<" + text + ">")
        expect("primitives%r" % (c[:7],), got, want)


def sample_everything():
    import Interop
    return Interop.Everything(
        True, 7, -2, 2**31 - 1, -(2**40), 0.5, 3.25, "text ✓",
        Interop.Color.Blue, Interop.Point(3, -4), [1, 2, 3],
        {"a": "b", "é": "✓"})


def check_structs(t, ctx):
    import Interop
    e = sample_everything()
    r, copy = t.echoEverything(e)
    expect("out copy", copy, e)
    want = Interop.Everything(
        e.flag, e.octet, e.i16, i32(e.i32 + 1), e.i64, e.f32, e.f64, e.text,
        e.color, Interop.Point(-4, 3), [3, 2, 1], e.labels)
    expect("return value", r, want)


def sample_containers():
    import Interop
    return Interop.Containers(
        [True, False, False], bytes([0, 1, 254, 255]), [-32768, 0, 32767],
        [-2**31, 0, 2**31 - 1] + list(range(300)), [-2**63, 2**63 - 1],
        [0.5, -2.0], [1e-300, -1e300], ["", "a", "é✓", "x" * 300],
        [Interop.Color.Red, Interop.Color.Blue, Interop.Color.Green],
        [Interop.Point(1, 2), Interop.Point(-3, -4)], [[1], [], [2, 3]],
        {"k": "v", "": "empty"},
        {-1: Interop.Point(0, 0), 2**31 - 1: Interop.Point(5, 6)},
        {"none": [], "some": [1, 2, 3]})


def check_containers(t, ctx):
    import Interop
    c = sample_containers()
    r = t.reverseContainers(c)
    want = Interop.Containers(
        c.bools[::-1], c.bytes[::-1], c.shorts[::-1], c.ints[::-1],
        c.longs[::-1], c.floats[::-1], c.doubles[::-1], c.strings[::-1],
        c.colors[::-1], c.points[::-1], c.nested[::-1], c.labels,
        c.pointsById, c.intsByName)
    expect("reverseContainers", r, want)
    empty = Interop.Containers(
        [], b"", [], [], [], [], [], [], [], [], [], {}, {}, {})
    expect("empty containers", t.reverseContainers(empty), empty)


def check_enums(t, ctx):
    import Interop
    C = Interop.Color
    for a, b in ((C.Red, C.Green), (C.Green, C.Blue), (C.Blue, C.Red)):
        expect("nextColor(%s)" % a, t.nextColor(a), b)


def check_optionals(t, ctx):
    import Interop
    expect("all set", t.optionals(21, "s", [1, 2, 3]),
           ("s", 42, Interop.Point(21, -21), 3))
    u = Ice.Unset
    expect("none set", t.optionals(u, u, u), (u, u, u, u))
    expect("some set", t.optionals(u, "only", []), ("only", u, u, 0))


def check_exceptions(t, ctx):
    import Interop
    t.fail(0)
    e = expect_raises("fail(1)", Interop.BaseError, t.fail, 1)
    expect("fail(1) type", type(e), Interop.BaseError)
    expect("fail(1) reason", e.reason, "base")
    e = expect_raises("fail(2)", Interop.DerivedError, t.fail, 2)
    expect("fail(2)", (e.reason, e.code, e.detail), ("derived", 7, "more"))
    e = expect_raises("fail(2) as base", Interop.BaseError, t.fail, 2)
    expect("fail(2) as base type", type(e), Interop.DerivedError)
    e = expect_raises("fail(3)", Interop.DerivedError, t.fail, 3)
    expect("fail(3)", (e.reason, e.code, e.detail), ("bare", 8, Ice.Unset))
    e = expect_raises("fail(4)", Interop.OtherError, t.fail, 4)
    expect("fail(4)", e.value, -5)


def check_context(t, ctx):
    c = {"k": "v", "é": "✓", "empty": ""}
    expect("context", t.context(c), c)
    expect("no context", t.context(), {})


def check_oneway(t, ctx):
    o = t.ice_oneway()
    o.note("one")
    o.note("two")
    expect("notes", t.notes(), "one,two")


def check_idempotent_retry(t, ctx):
    expect("retried", t.retried("k-" + str(uuid.uuid4())), 2)


def check_not_idempotent(t, ctx):
    key = "k-" + str(uuid.uuid4())
    expect_raises("notRetried, first attempt", Ice.ConnectionLostException,
                  t.notRetried, key)
    expect("notRetried, second call", t.notRetried(key), 2)


def check_large_payload(t, ctx):
    n = 10 * MIB
    data = (bytes(range(251)) * (n // 251 + 1))[:n]
    r = t.reverse(data)
    if len(r) != n or r != data[::-1]:
        raise Failed("reverse of 10 MiB: %d bytes back, not the data reversed"
                     % len(r))


def check_compression(t, ctx):
    z = t.ice_compress(True)
    data = b"compressible " * 5000
    expect("compressed reverse", z.reverse(data), data[::-1])
    expect("compressed small", z.reverse(b"ab"), b"ba")


def check_ping_isa(t, ctx):
    t.ice_ping()
    expect("ice_isA Test", t.ice_isA("::Interop::Test"), True)
    expect("ice_isA Pinger", t.ice_isA("::Interop::Pinger"), True)
    expect("ice_isA Object", t.ice_isA("::Ice::Object"), True)
    expect("ice_isA Callback", t.ice_isA("::Interop::Callback"), False)
    expect("ice_id", t.ice_id(), "::Interop::Test")
    expect("ice_ids", t.ice_ids(),
           ["::Ice::Object", "::Interop::Pinger", "::Interop::Test"])
    p = t.pings()
    expect("pings", t.pings(), p + 1)
    import Interop
    missing = Interop.TestPrx.uncheckedCast(
        t.ice_identity(Ice.stringToIdentity("missing")))
    expect_raises("ice_ping missing", Ice.ObjectNotExistException,
                  missing.ice_ping)


def check_callback(t, ctx):
    import Interop

    class CallbackI(Interop.Callback):
        def __init__(self):
            self.calls = 0

        def notify(self, message, current):
            self.calls += 1
            return "callback: " + message

    comm = t.ice_getCommunicator()
    adapter = ctx.get("bidir")
    if adapter is None:
        adapter = comm.createObjectAdapter("")
        adapter.activate()
        ctx["bidir"] = adapter
    servant = CallbackI()
    cb = Interop.CallbackPrx.uncheckedCast(adapter.addWithUUID(servant))
    t.ice_getConnection().setAdapter(adapter)
    expect("callback", t.callback(cb, "hi"), "callback: hi")
    expect("callback calls", servant.calls, 1)


def check_close_by_client(t, ctx):
    name = "client-closes-" + str(uuid.uuid4())
    c = t.ice_connectionId(name)
    c.label(name)
    c.ice_getConnection().close(Ice.ConnectionClose.GracefullyWithWait)
    expect("closed", t.closed(name), "graceful")


def check_close_by_server(t, ctx):
    name = "server-closes-" + str(uuid.uuid4())
    c = t.ice_connectionId(name)
    con = c.ice_getConnection()
    done = threading.Event()
    how = []

    def on_close(con):
        try:
            con.throwException()
        except Ice.CloseConnectionException:
            how.append("graceful")
        except Ice.LocalException as e:
            how.append(type(e).__name__)
        done.set()

    con.setCloseCallback(on_close)
    c.closeMe()
    if not done.wait(10):
        raise Failed("the server did not close the connection")
    expect("closed by the server", how[0], "graceful")


CHECKS = [
    ("primitives", check_primitives),
    ("structs", check_structs),
    ("containers", check_containers),
    ("enums", check_enums),
    ("optionals", check_optionals),
    ("exceptions", check_exceptions),
    ("context", check_context),
    ("oneway", check_oneway),
    ("idempotent_retry", check_idempotent_retry),
    ("not_idempotent", check_not_idempotent),
    ("large_payload", check_large_payload),
    ("compression", check_compression),
    ("ping_isa", check_ping_isa),
    ("callback", check_callback),
    ("close_by_client", check_close_by_client),
    ("close_by_server", check_close_by_server),
]


def run_client(args, ice_args, checks):
    import Interop
    init = Ice.InitializationData()
    init.properties = properties(ice_args)
    init.properties.setProperty("Ice.Override.CloseTimeout", "5000")
    stop_on_stdin_eof(lambda: os._exit(3))
    wanted = args.checks.split(",") if args.checks else [n for n, _ in checks]
    unknown = set(wanted) - {n for n, _ in checks}
    if unknown:
        print("unknown checks: " + ",".join(sorted(unknown)), file=sys.stderr)
        return 2
    passed = failed = 0
    with Ice.initialize(init) as communicator:
        t = communicator.stringToProxy(args.proxy[0])
        if checks is CHECKS:
            t = Interop.TestPrx.uncheckedCast(t)
        ctx = {"large_size": args.large_size}
        for name, fn in checks:
            if name not in wanted:
                continue
            try:
                fn(t, ctx)
                print("PASS " + name, flush=True)
                passed += 1
            except Failed as e:
                print("FAIL %s: %s" % (name, e), flush=True)
                failed += 1
            except Exception as e:  # noqa: BLE001
                print("FAIL %s: %s: %s" % (name, type(e).__name__,
                                           str(e).replace("\n", " ")),
                      flush=True)
                failed += 1
    print("done %d passed %d failed" % (passed, failed), flush=True)
    return 0 if failed == 0 else 1


# ---- Checks against an echo server ----
#
# Any operation on identity "echo" answers Ok with the request's
# encapsulation (irpc-bench serve, irpc-bench-ice-server): the protocol
# alone, with no generated code on the server side.


def encaps(payload):
    import struct
    return struct.pack("<iBB", len(payload) + 6, 1, 1) + payload


def invoke(p, data, context=None):
    if context is None:
        ok, out = p.ice_invoke("op", Ice.OperationMode.Normal, data)
    else:
        ok, out = p.ice_invoke("op", Ice.OperationMode.Normal, data, context)
    if not ok:
        raise Failed("the echo answered a user exception")
    return out


def echo_small(p, ctx):
    for payload in (b"", b"\x03abc", bytes(range(256)) * 3):
        e = encaps(payload)
        expect("echo of %d bytes" % len(e), invoke(p, e), e)


def echo_modes(p, ctx):
    e = encaps(b"\x01")
    for mode in (Ice.OperationMode.Idempotent, Ice.OperationMode.Nonmutating):
        ok, out = p.ice_invoke("op", mode, e)
        expect("echo with mode %s" % mode, (ok, out), (True, e))


def echo_context(p, ctx):
    e = encaps(b"\x02hi")
    expect("echo with a context", invoke(p, e, context={"k": "v", "é": "✓"}),
           e)


def echo_large(p, ctx):
    n = ctx["large_size"]
    e = encaps((bytes(range(251)) * (n // 251 + 1))[:n])
    out = invoke(p, e)
    if out != e:
        raise Failed("echo of %d bytes: %d bytes back, not the same"
                     % (n, len(out)))


def echo_compressed(p, ctx):
    z = p.ice_compress(True)
    for payload in (b"ab", b"compressible " * 5000):
        e = encaps(payload)
        expect("compressed echo of %d bytes" % len(e), invoke(z, e), e)


def echo_in_flight(p, ctx):
    futures = []
    for i in range(200):
        e = encaps(i.to_bytes(4, "little") * (i + 1))
        futures.append((e, p.ice_invokeAsync("op", Ice.OperationMode.Normal,
                                              e)))
    for i, (e, f) in enumerate(futures):
        ok, out = f.result(30)
        expect("call %d of 200 in flight" % i, (ok, out), (True, e))


def echo_oneway(p, ctx):
    o = p.ice_oneway()
    for i in range(3):
        expect("one-way", o.ice_invoke("op", Ice.OperationMode.Normal,
                                       encaps(bytes([i])))[0], True)
    b = p.ice_batchOneway()
    for i in range(3):
        b.ice_invoke("op", Ice.OperationMode.Normal, encaps(bytes([i])))
    b.ice_flushBatchRequests()
    e = encaps(b"\x05after")
    expect("a two-way call after one-way and batch ones", invoke(p, e), e)


def echo_ping_heartbeat(p, ctx):
    p.ice_ping()
    con = p.ice_getConnection()
    con.heartbeat()
    e = encaps(b"\x04beat")
    expect("echo after a heartbeat", invoke(p, e), e)
    expect("the same connection", p.ice_getConnection(), con)


def echo_not_found(p, ctx):
    missing = p.ice_identity(Ice.stringToIdentity("nobody"))
    expect_raises("a call to identity nobody", Ice.ObjectNotExistException,
                  invoke, missing, encaps(b""))
    e = encaps(b"\x02ok")
    expect("a call after it", invoke(p, e), e)


def echo_close(p, ctx):
    c = p.ice_connectionId("closing")
    e = encaps(b"\x03bye")
    expect("echo before closing", invoke(c, e), e)
    con = c.ice_getConnection()
    done = threading.Event()
    con.setCloseCallback(lambda con: done.set())
    con.close(Ice.ConnectionClose.GracefullyWithWait)
    # The peer answers CloseConnection by closing: well before the close
    # timeout (5 s here), after which Ice would close by itself.
    if not done.wait(4):
        raise Failed("the server did not close its end after CloseConnection")
    expect("a new connection after the close", invoke(p, e), e)


ECHO_CHECKS = [
    ("echo_small", echo_small),
    ("echo_modes", echo_modes),
    ("echo_context", echo_context),
    ("echo_large", echo_large),
    ("echo_compressed", echo_compressed),
    ("echo_in_flight", echo_in_flight),
    ("echo_oneway", echo_oneway),
    ("echo_ping_heartbeat", echo_ping_heartbeat),
    ("echo_not_found", echo_not_found),
    ("echo_close", echo_close),
]


def run_grid(args, ice_args):
    import Interop
    init = Ice.InitializationData()
    init.properties = properties(ice_args)
    stop_on_stdin_eof(lambda: os._exit(3))
    failed = 0
    with Ice.initialize(init) as communicator:
        for s in args.proxy:
            try:
                p = Interop.TestPrx.checkedCast(communicator.stringToProxy(s))
                if p is None:
                    raise Failed("not an ::Interop::Test")
                before = p.pings()
                expect("pings", p.pings(), before + 1)
                print("PASS grid %s" % s, flush=True)
            except Exception as e:  # noqa: BLE001
                print("FAIL grid %s: %s: %s" % (s, type(e).__name__,
                                                str(e).replace("\n", " ")),
                      flush=True)
                failed += 1
    return 0 if failed == 0 else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["server", "client", "echo", "grid"])
    ap.add_argument("--slice", default=os.path.join(HERE, "Interop.ice"))
    ap.add_argument("--endpoints", default="tcp -h 127.0.0.1 -p 0")
    ap.add_argument("--adapter-id")
    ap.add_argument("--register-object")
    ap.add_argument("--proxy", action="append", default=[])
    ap.add_argument("--checks")
    ap.add_argument("--large-size", type=int, default=10 * MIB,
                    help="bytes of the echo_large payload (10 MiB)")
    args, rest = ap.parse_known_args()
    load_slice(args.slice)
    ice_args = [a for a in rest if a.startswith("--Ice.") or
                a.startswith("--IceGrid.")]
    if len(ice_args) != len(rest):
        ap.error("unknown arguments: %s" % " ".join(
            a for a in rest if a not in ice_args))
    if args.mode == "server":
        return run_server(args, ice_args)
    if not args.proxy:
        ap.error("--proxy is required")
    if args.mode == "client":
        return run_client(args, ice_args, CHECKS)
    if args.mode == "echo":
        return run_client(args, ice_args, ECHO_CHECKS)
    return run_grid(args, ice_args)


if __name__ == "__main__":
    sys.exit(main())
