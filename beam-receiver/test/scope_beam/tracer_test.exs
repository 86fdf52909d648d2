defmodule ScopeBeam.TracerTest.SnapshotServer do
  use GenServer
  @impl true
  def init(state), do: {:ok, state}
end

defmodule ScopeBeam.TracerTest do
  # One tracer per node: these tests cannot run concurrently.
  use ExUnit.Case, async: false

  import ExUnit.CaptureLog
  require Logger

  alias ScopeBeam.Test.TraceClient
  alias ScopeBeam.Tracer

  setup do
    # So that trace_info/2 on its functions says false rather than :undefined.
    Code.ensure_loaded!(TraceTarget)
    on_exit(fn -> Tracer.stop() end)
    :ok
  end

  # A process that runs `fun` when told to, then waits to be killed.
  defp spawn_tracee(fun \\ fn -> :ok end) do
    spawn(fn ->
      receive do
        :go -> fun.()
      end

      Process.sleep(:infinity)
    end)
  end

  defp flags(pid), do: :erlang.trace_info(pid, :flags)

  # Snapshot frames until the next clock frame (they are written together at start).
  defp collect_snapshot(acc) do
    receive do
      {:frame, {:scope_snapshot, node, time, chunk}} when node == node() and is_integer(time) ->
        collect_snapshot(acc ++ chunk)
    after
      500 -> acc
    end
  end

  # What the running tracer has set, asked in its own trace session on OTP 27+
  # (erlang:trace_info/2 only sees the classic, node-wide session).
  defp live(%{backend: :session, session: session}, what, item),
    do: apply(:trace, :info, [session, what, item])

  defp live(_info, what, item), do: :erlang.trace_info(what, item)

  describe "start/1 and stop/0" do
    test "return :ok and leave no trace flags or call patterns behind" do
      tracee = spawn_tracee()
      Process.register(tracee, :scope_beam_named_tracee)
      other = spawn_tracee()

      assert {:ok, info} =
               Tracer.start(
                 port: 0,
                 processes: [:scope_beam_named_tracee, other],
                 flags: [:send, :receive, :procs],
                 calls: [{TraceTarget, :add, 2}, {TraceTarget, :_, :_}],
                 return_trace: true
               )

      assert is_integer(info.port) and info.port > 0
      assert info.targets == [tracee, other]
      assert Tracer.running?()

      # While running: flags (plus :call, added for the patterns) and patterns are set.
      assert {:flags, set} = live(info, tracee, :flags)
      assert Enum.sort(set) == Enum.sort([:send, :receive, :procs, :call, :timestamp])
      assert live(info, tracee, :tracer) == {:tracer, info.trace_port}
      assert {:traced, :local} = live(info, {TraceTarget, :add, 2}, :traced)
      assert {:traced, :local} = live(info, {TraceTarget, :boom, 1}, :traced)

      assert :ok = Tracer.stop()
      refute Tracer.running?()
      refute Process.alive?(info.pid)
      assert Port.info(info.trace_port) == nil

      for pid <- [tracee, other] do
        assert flags(pid) == {:flags, []}
        assert :erlang.trace_info(pid, :tracer) == {:tracer, []}
      end

      assert :erlang.trace_info({TraceTarget, :add, 2}, :traced) == {:traced, false}
      assert :erlang.trace_info({TraceTarget, :boom, 1}, :traced) == {:traced, false}
      assert :erlang.trace_info({TraceTarget, :add, 2}, :match_spec) == {:match_spec, false}

      # stop/0 when nothing runs is still :ok.
      assert :ok = Tracer.stop()
    end

    test "processes: :all traces everything but its own processes, and stop clears it all" do
      sleeper = spawn_tracee()

      assert {:ok, info} = Tracer.start(port: 0, processes: :all, flags: [:send, :procs])

      assert {:flags, set} = live(info, sleeper, :flags)
      assert :send in set and :procs in set
      # Never traced: the monitor, the trace port, the calling process.
      assert live(info, info.pid, :flags) == {:flags, []}
      assert live(info, info.trace_port, :flags) == {:flags, []}
      assert live(info, self(), :flags) == {:flags, []}

      # New processes inherit the flags from the :all default.
      late = spawn_tracee()
      assert {:flags, [_ | _]} = live(info, late, :flags)

      assert :ok = Tracer.stop()

      traced =
        for p <- Process.list() ++ Port.list(),
            :erlang.trace_info(p, :flags) not in [{:flags, []}, :undefined],
            do: p

      assert traced == []
      assert :erlang.trace_info(:new, :flags) == {:flags, []}
      assert flags(spawn_tracee()) == {:flags, []}
    end

    test "processes: :new only traces processes spawned afterwards" do
      before = spawn_tracee()
      assert {:ok, info} = Tracer.start(port: 0, processes: :new, flags: [:procs])
      later = spawn_tracee()

      assert live(info, before, :flags) == {:flags, []}
      assert {:flags, set} = live(info, later, :flags)
      assert :procs in set

      assert :ok = Tracer.stop()
      assert flags(later) == {:flags, []}
      assert :erlang.trace_info(:new, :flags) == {:flags, []}
    end

    test "a second start gives {:error, :already_started}" do
      assert {:ok, info} = Tracer.start(port: 0, processes: :new)
      assert Tracer.start(port: 0, processes: :new) == {:error, :already_started}
      assert Process.alive?(info.pid)
      assert :ok = Tracer.stop()
      # ...and after stop a new one may start.
      assert {:ok, _} = Tracer.start(port: 0, processes: :new)
      assert :ok = Tracer.stop()
    end

    test "a busy listen port is reported and nothing is left running" do
      {:ok, listener} = :gen_tcp.listen(0, [])
      {:ok, busy} = :inet.port(listener)

      assert {:error, {:port_open_failed, ^busy, _}} = Tracer.start(port: busy, processes: :new)

      refute Tracer.running?()
      :gen_tcp.close(listener)
    end

    test "invalid options are refused before anything is started" do
      assert Tracer.start(flags: [:send, :bogus]) == {:error, {:invalid_flag, :bogus}}
      assert Tracer.start(flags: [:timestamp]) == {:error, {:invalid_flag, :timestamp}}
      assert Tracer.start(bogus: 1) == {:error, {:unknown_option, :bogus}}
      assert Tracer.start(timestamp: :cpu) == {:error, {:invalid_option, :timestamp, :cpu}}

      assert Tracer.start(processes: :no_such_registered_name) ==
               {:error, {:no_such_process, :no_such_registered_name}}

      assert Tracer.start(calls: [{TraceTarget, :_, 2}]) ==
               {:error, {:invalid_pattern, {TraceTarget, :_, 2}}}

      assert {:error, {:invalid_match_spec, _, _}} =
               Tracer.start(calls: [{TraceTarget, :add, 2, [{:_, [], [{:no_such_action}]}]}])

      assert Tracer.start(calls: [{TraceTarget, :nope, 0}], port: 0, processes: :new) ==
               {:error, {:no_matching_functions, {TraceTarget, :nope, 0}}}

      refute Tracer.running?()
    end
  end

  describe "dangerous patterns" do
    test "are refused and nothing is started" do
      for mfa <- [
            {:_, :_, :_},
            {:lists, :seq, 2},
            {:io, :format, :_},
            {:erlang, :send, 2},
            {:ets, :lookup, 2},
            {:maps, :get, 2},
            {:timer, :sleep, 1},
            {:gen_server, :_, :_},
            {:gen, :_, :_},
            {ScopeBeam.Tracer, :start, 1},
            {ScopeBeam.Tracer.Server, :_, :_}
          ] do
        assert Tracer.start(port: 0, processes: :new, calls: [mfa]) ==
                 {:error, {:dangerous_pattern, mfa}},
               "expected #{inspect(mfa)} to be refused"
      end

      # Also when hidden behind a harmless pattern.
      assert Tracer.start(port: 0, processes: :new, calls: [{TraceTarget, :add, 2}, {:_, :_, :_}]) ==
               {:error, {:dangerous_pattern, {:_, :_, :_}}}

      refute Tracer.running?()
      assert :erlang.trace_info({TraceTarget, :add, 2}, :traced) == {:traced, false}

      # A single named gen_server function is allowed (the limits still apply).
      assert {:ok, _} = Tracer.start(port: 0, processes: :new, calls: [{:gen_server, :call, 3}])
      assert :ok = Tracer.stop()
      assert :erlang.trace_info({:gen_server, :call, 3}, :traced) == {:traced, false}
    end
  end

  describe "the IP trace port" do
    test "frames clock-sync terms and trace messages as <<0, Size::32, TermBinary>>" do
      me = self()
      ref = make_ref()
      tracee = spawn_tracee(fn -> send(me, {:hello, ref}) end)

      before = :erlang.system_time(:nanosecond)

      assert {:ok, info} =
               Tracer.start(port: 0, processes: tracee, flags: [:send], clock_interval: 50)

      _reader = TraceClient.connect(info.port)

      # The very first frame is the clock pair written right after opening the
      # port (queued by the driver until a client connects).
      assert_receive {:frame, first}, 2_000
      node = node()
      assert {:scope_clock, ^node, mono1, sys1} = first
      assert is_integer(mono1) and is_integer(sys1)
      assert sys1 >= before and sys1 <= :erlang.system_time(:nanosecond)

      send(tracee, :go)
      assert_receive {:hello, ^ref}

      assert_receive {:frame, {:trace_ts, ^tracee, :send, {:hello, ^ref}, ^me, ts}}, 2_000
      assert {mega, sec, micro} = ts
      assert is_integer(mega) and is_integer(sec) and is_integer(micro)

      # More clock frames follow every clock_interval ms, monotonic time rising.
      assert_receive {:frame, {:scope_clock, ^node, mono2, _sys2}}, 2_000
      assert mono2 > mono1

      assert :ok = Tracer.stop()
    end

    test "a snapshot of the processes alive at start follows the first clock frame" do
      {:ok, agent} = GenServer.start_link(ScopeBeam.TracerTest.SnapshotServer, %{secret: "in the state, never in the snapshot"})
      Process.register(agent, :scope_beam_snapshot_agent)
      Process.put(:scope_beam_private, "never read")

      assert {:ok, info} = Tracer.start(port: 0, processes: :new, flags: [:procs])
      _reader = TraceClient.connect(info.port)

      assert_receive {:frame, {:scope_clock, _, _, _}}, 2_000
      entries = collect_snapshot([])
      by_pid = Map.new(entries, &{&1.pid, &1})

      # A GenServer started through proc_lib: its initial call as proc_lib reports it.
      agent_entry = Map.fetch!(by_pid, agent)
      assert agent_entry.registered_name == :scope_beam_snapshot_agent
      assert agent_entry.initial_call == {ScopeBeam.TracerTest.SnapshotServer, :init, 1}
      assert agent_entry.proc_lib == true
      assert agent_entry.behaviour == :gen_server
      assert agent_entry.callback_module == ScopeBeam.TracerTest.SnapshotServer
      assert agent_entry.ancestors == [self()]
      assert self() in agent_entry.links
      assert agent_entry.trap_exit == false

      # The tracer's own monitor process is marked as such; plain processes are not proc_lib.
      assert Map.fetch!(by_pid, info.pid).role == :tracer
      assert Enum.all?(entries, &(Map.keys(&1) |> Enum.sort() == Enum.sort(Map.keys(agent_entry))))
      # Only $initial_call and $ancestors are read from dictionaries.
      refute inspect(entries, limit: :infinity) =~ "never read"
      refute inspect(entries, limit: :infinity) =~ "never in the snapshot"
      assert length(entries) == length(Enum.uniq_by(entries, & &1.pid))
      assert length(entries) >= 20

      assert :ok = Tracer.stop()
    end

    test "snapshot: false writes none" do
      assert {:ok, info} = Tracer.start(port: 0, processes: :new, flags: [:procs], snapshot: false, clock_interval: 50)
      _reader = TraceClient.connect(info.port)
      assert_receive {:frame, {:scope_clock, _, _, _}}, 2_000
      assert_receive {:frame, {:scope_clock, _, _, _}}, 2_000
      refute_received {:frame, {:scope_snapshot, _, _, _}}
      assert :ok = Tracer.stop()
    end

    test "decode/1 of the test client splits frames as the driver writes them" do
      term = {:trace_ts, self(), :send, :x, self(), {1, 2, 3}}
      bin = :erlang.term_to_binary(term)
      wire = <<0, byte_size(bin)::32, bin::binary, 1, 7::32, 0, 0, 0>>
      assert TraceClient.decode(wire) == {[{:frame, term}, {:dropped, 7}], <<0, 0, 0>>}
    end

    test "monotonic timestamps arrive as integers in nanoseconds" do
      me = self()
      tracee = spawn_tracee(fn -> send(me, :mono) end)

      assert {:ok, info} =
               Tracer.start(
                 port: 0,
                 processes: tracee,
                 flags: [:send],
                 timestamp: :monotonic_timestamp
               )

      _reader = TraceClient.connect(info.port)
      t0 = :erlang.monotonic_time(:nanosecond)
      send(tracee, :go)
      assert_receive {:frame, {:trace_ts, ^tracee, :send, :mono, ^me, ts}}, 2_000
      assert is_integer(ts) and ts >= t0 and ts <= :erlang.monotonic_time(:nanosecond)
      assert :ok = Tracer.stop()
    end

    test "return_trace and exception_trace produce return_from and exception_from" do
      tracee =
        spawn_tracee(fn ->
          3 = TraceTarget.add(1, 2)

          try do
            TraceTarget.boom(7)
          rescue
            ArgumentError -> :ok
          end
        end)

      assert {:ok, info} =
               Tracer.start(
                 port: 0,
                 processes: [tracee],
                 flags: [],
                 calls: [{TraceTarget, :add, 2}, {TraceTarget, :boom, :_}],
                 return_trace: true,
                 exception_trace: true
               )

      assert :call in info.flags
      _reader = TraceClient.connect(info.port)
      send(tracee, :go)

      assert_receive {:frame, {:trace_ts, ^tracee, :call, {TraceTarget, :add, [1, 2]}, _}}, 2_000

      assert_receive {:frame, {:trace_ts, ^tracee, :return_from, {TraceTarget, :add, 2}, 3, _}},
                     2_000

      assert_receive {:frame, {:trace_ts, ^tracee, :call, {TraceTarget, :boom, [7]}, _}}, 2_000

      assert_receive {:frame,
                      {:trace_ts, ^tracee, :exception_from, {TraceTarget, :boom, 1},
                       {:error, %ArgumentError{message: "boom 7"}}, _}},
                     2_000

      assert :ok = Tracer.stop()
    end

    test "return_trace alone gives return_from without exception_from" do
      tracee =
        spawn_tracee(fn ->
          try do
            TraceTarget.boom(1)
          rescue
            ArgumentError -> :ok
          end

          TraceTarget.add(2, 2)
        end)

      assert {:ok, info} =
               Tracer.start(
                 port: 0,
                 processes: [tracee],
                 flags: [:call],
                 calls: [{TraceTarget, :_, :_}],
                 return_trace: true
               )

      _reader = TraceClient.connect(info.port)
      send(tracee, :go)

      assert_receive {:frame, {:trace_ts, ^tracee, :return_from, {TraceTarget, :add, 2}, 4, _}},
                     2_000

      refute_received {:frame, {:trace_ts, ^tracee, :exception_from, _, _, _}}
      assert :ok = Tracer.stop()
    end
  end

  describe "safety limits" do
    test "max_duration stops tracing on its own, cleans up and logs a warning" do
      tracee = spawn_tracee()

      log =
        capture_log(fn ->
          assert {:ok, info} =
                   Tracer.start(port: 0, processes: tracee, flags: [:receive], max_duration: 200)

          ref = Process.monitor(info.pid)
          assert {:flags, [_ | _]} = live(info, tracee, :flags)
          assert_receive {:DOWN, ^ref, :process, _, reason}, 2_000
          assert reason == {:shutdown, {:max_duration, 200}}
          Logger.flush()
        end)

      assert log =~ "[warning]"
      assert log =~ "max_duration of 200 ms reached"
      refute Tracer.running?()
      assert flags(tracee) == {:flags, []}
      assert :ok = Tracer.stop()
    end

    test "max_events_per_second stops tracing a busy tracee" do
      busy =
        spawn(fn ->
          loop = fn loop ->
            send(self(), :tick)

            receive do
              :tick -> loop.(loop)
            end
          end

          loop.(loop)
        end)

      on_exit(fn -> Process.exit(busy, :kill) end)

      log =
        capture_log(fn ->
          assert {:ok, info} =
                   Tracer.start(
                     port: 0,
                     processes: busy,
                     flags: [:send, :receive],
                     max_events_per_second: 1_000
                   )

          ref = Process.monitor(info.pid)
          assert_receive {:DOWN, ^ref, :process, _, reason}, 2_000
          assert {:shutdown, {:max_events_per_second, 1_000, seen}} = reason
          assert seen > 1_000
          Logger.flush()
        end)

      assert log =~ "max_events_per_second 1000 exceeded"
      refute Tracer.running?()
      assert flags(busy) == {:flags, []}
    end

    test "a quiet tracee stays under max_events_per_second" do
      me = self()

      tracee =
        spawn_tracee(fn ->
          for i <- 1..50, do: send(me, {:quiet, i})
        end)

      assert {:ok, info} =
               Tracer.start(
                 port: 0,
                 processes: tracee,
                 flags: [:send],
                 max_events_per_second: 1_000,
                 clock_interval: 20
               )

      send(tracee, :go)
      assert_receive {:quiet, 50}
      # Three full sampling windows of 100 ms with ~50 events and many clock frames.
      Process.sleep(350)
      assert Tracer.running?()
      assert {:ok, %{pid: pid, estimated_events: n}} = Tracer.info()
      assert pid == info.pid
      assert n >= 50 and n < 1_000
      assert :ok = Tracer.stop()
    end
  end

  describe "dbg_one_liner/1" do
    test "is the documented line, is in the README, and works in this node" do
      line = Tracer.dbg_one_liner(4711)

      assert line ==
               "dbg:tracer(port, dbg:trace_port(ip, {4711, 50000})), " <>
                 "dbg:p(existing, [send, 'receive', procs, call, set_on_spawn, timestamp]), " <>
                 "[erlang:trace(P, false, [all]) || P <- [self(), element(2, process_info(self(), parent)), whereis(dbg)]]."

      assert File.read!("README.md") =~ line

      # A process alive before the line (traced, as existing) that spawns one after it (traced through set_on_spawn).
      parent = self()

      existing =
        spawn(fn ->
          receive do
            :spawn -> send(parent, {:child, spawn(fn -> Process.sleep(:infinity) end)})
          end

          Process.sleep(:infinity)
        end)

      # Evaluate it as plain Erlang would (on a free port), then clean up.
      {:ok, tokens, _} = :erl_scan.string(String.to_charlist(Tracer.dbg_one_liner(0)))
      {:ok, exprs} = :erl_parse.parse_exprs(tokens)

      try do
        # erlang:trace/3 answers how many processes it changed: one each.
        assert {:value, [1, 1, 1], _} = :erl_eval.exprs(exprs, [])
        assert {:ok, lp} = :dbg.trace_port_control(node(), :get_listen_port)
        assert is_integer(lp) and lp > 0
        # The process that typed it, the one that started it (a shell) and dbg are not traced.
        assert flags(self()) == {:flags, []}
        {:parent, starter} = Process.info(self(), :parent)
        assert flags(starter) == {:flags, []}
        assert flags(Process.whereis(:dbg)) == {:flags, []}
        assert {:flags, set} = flags(existing)
        assert :send in set and :receive in set and :procs in set and :call in set and :set_on_spawn in set
        send(existing, :spawn)
        assert_receive {:child, child}
        assert {:flags, child_set} = flags(child)
        assert :send in child_set and :procs in child_set
      after
        :dbg.stop()
      end

      assert flags(self()) == {:flags, []}
    end
  end

  describe "Backend.teardown/1 (classic)" do
    test "removes the flags and patterns itself, with the trace port still open" do
      alias ScopeBeam.Tracer.{Backend, Options, TracePort}

      tracee = spawn_tracee()

      {:ok, cfg} =
        Options.validate(
          processes: [tracee, :new],
          flags: [:send, :procs, :set_on_spawn],
          calls: [{TraceTarget, :add, 2}]
        )

      {:ok, port} = TracePort.open(0, 1_000)

      try do
        assert {:ok, handle} = Backend.setup(:classic, port, cfg, [self()])
        child = spawn_tracee()
        assert {:flags, [_ | _]} = flags(tracee)
        assert {:flags, [_ | _]} = flags(child)
        assert {:traced, :local} = :erlang.trace_info({TraceTarget, :add, 2}, :traced)

        assert :ok = Backend.teardown(handle)

        # The port is still open, so nothing was cleared by the runtime for us.
        assert is_list(Port.info(port))
        assert flags(tracee) == {:flags, []}
        assert flags(child) == {:flags, []}
        assert :erlang.trace_info(:new, :flags) == {:flags, []}
        assert :erlang.trace_info({TraceTarget, :add, 2}, :traced) == {:traced, false}
      after
        TracePort.close(port)
      end
    end

    test "leaves processes traced by another tracer alone" do
      alias ScopeBeam.Tracer.{Backend, Options, TracePort}

      other_tracer = spawn_tracee()
      theirs = spawn_tracee()
      :erlang.trace(theirs, true, [:send, {:tracer, other_tracer}])

      {:ok, port} = TracePort.open(0, 1_000)

      try do
        {:ok, cfg} = Options.validate(processes: theirs, flags: [:receive])

        assert Backend.setup(:classic, port, cfg, []) ==
                 {:error, {:already_traced, theirs, other_tracer}}

        {:ok, cfg} = Options.validate(processes: :existing, flags: [:receive])
        assert {:ok, handle} = Backend.setup(:classic, port, cfg, [self()])
        assert :ok = Backend.teardown(handle)
        assert flags(theirs) == {:flags, [:send]}
        assert :erlang.trace_info(theirs, :tracer) == {:tracer, other_tracer}
      after
        TracePort.close(port)
        :erlang.trace(theirs, false, [:all])
      end
    end
  end

  test "backend/0 picks trace sessions only where the OTP release has them" do
    otp = :erlang.system_info(:otp_release) |> List.to_integer()
    assert Tracer.backend() == if(otp >= 27, do: :session, else: :classic)
  end
end
