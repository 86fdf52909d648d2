defmodule ScopeBeam.WatchTest do
  # ScopeBeam.watch/2 on real GenServers: one report per handled message with
  # exact old/new states, then nothing after unwatch or exit.
  use ExUnit.Case, async: false

  alias ScopeBeam.CartServer

  defp changes(n) do
    for _ <- 1..n do
      assert_receive {:scope_beam, {:scope_state_change, time, pid, attrs}}, 2_000
      assert abs(time - System.system_time(:nanosecond)) < 5_000_000_000
      {pid, attrs}
    end
  end

  test "one state.change per handled message: call, cast, info, with the message, the reply and the diff" do
    {:ok, cart} = CartServer.start(name: :scope_beam_watch_cart)
    assert {:ok, ^cart} = ScopeBeam.watch(:scope_beam_watch_cart, to: self())
    assert cart in ScopeBeam.Watch.watching()

    assert {:ok, 5} = GenServer.call(cart, {:add, "apple", 5})
    GenServer.cast(cart, :clear)
    send(cart, {:discount, 2})
    assert 0 - 2 == GenServer.call(cart, :total)

    [{^cart, call}, {^cart, cast}, {^cart, info}, {^cart, read}] = changes(4)
    refute_receive {:scope_beam, _}, 100

    assert call.kind == :call
    assert call[:"beam.module"] == CartServer
    assert call[:"beam.registered_name"] == :scope_beam_watch_cart
    assert call[:"beam.message"] == ~s({:add, "apple", 5})
    assert call[:"beam.from"] == self()
    assert call[:"beam.reply"] == "{:ok, 5}"
    assert call.seq == 1
    assert call.old_state == inspect(%CartServer{owner: "ada"})
    assert call.new_state == inspect(%CartServer{owner: "ada", items: %{"apple" => 5}, total: 5})
    assert call.old_digest == :erlang.phash2(%CartServer{owner: "ada"})
    assert call.new_digest == :erlang.phash2(%CartServer{owner: "ada", items: %{"apple" => 5}, total: 5})
    assert call.changed
    assert Enum.sort(call.changed_keys) == ["items", "total"]
    assert call.diff == %{"items" => %{old: "%{}", new: ~s(%{"apple" => 5})}, "total" => %{old: "0", new: "5"}}

    assert cast.kind == :cast
    assert cast[:"beam.message"] == ":clear"
    assert cast.old_state == call.new_state, "each report starts from the previous one's new state"
    assert cast.old_digest == call.new_digest
    refute Map.has_key?(cast, :"beam.reply")

    assert info.kind == :info
    assert info[:"beam.message"] == "{:discount, 2}"
    assert info.diff == %{"total" => %{old: "0", new: "-2"}}

    assert read.kind == :call
    refute read.changed
    assert read.changed_keys == []
    assert read.seq == 4

    :ok = ScopeBeam.unwatch(:scope_beam_watch_cart)
    GenServer.call(cart, {:add, "pear", 1})
    refute_receive {:scope_beam, _}, 200
    assert {:status, _, _, [_, _, _, debug, _]} = :sys.get_status(cart)
    assert debug == [], "the debug function is removed"
    refute cart in ScopeBeam.Watch.watching()
    GenServer.stop(cart)
  end

  test "a continue after a call reports the call, then the continue's own change" do
    {:ok, cart} = CartServer.start()
    {:ok, _} = ScopeBeam.watch(cart, to: self())
    :ok = GenServer.call(cart, {:add_then_audit, "fig", 3})
    [{_, call}, {_, cont}] = changes(2)
    assert call.kind == :call
    assert call.diff["owner"] == nil
    assert cont.kind == :continue
    refute Map.has_key?(cont, :"beam.message")
    assert cont.diff == %{"owner" => %{old: ~s("ada"), new: ~s["ada (audited)"]}}
    GenServer.stop(cart)
  end

  test "the first report's old state is exact even while messages are arriving" do
    {:ok, cart} = CartServer.start()
    # Keeps sending until killed, so messages are in flight while the watch goes in.
    stream = spawn(fn -> discount_forever(cart, 0) end)
    Process.sleep(5)
    {:ok, _} = ScopeBeam.watch(cart, to: self())
    first = hd(changes(1)) |> elem(1)
    # Whatever had been handled before the watch, the report chains from the real state.
    {old, _} = Code.eval_string(first.old_state)
    {new, _} = Code.eval_string(first.new_state)
    assert new.total == old.total - 1
    Process.exit(stream, :kill)
    GenServer.stop(cart)
  end

  defp discount_forever(cart, n) do
    send(cart, {:discount, 1})
    if rem(n, 50) == 0, do: Process.sleep(1)
    discount_forever(cart, n + 1)
  end

  test "process exit: the watch ends with it; no report, registry forgets it" do
    {:ok, cart} = CartServer.start()
    {:ok, _} = ScopeBeam.watch(cart, to: self())
    ref = Process.monitor(cart)
    Process.exit(cart, :kill)
    assert_receive {:DOWN, ^ref, _, _, _}
    Process.sleep(50)
    refute cart in ScopeBeam.Watch.watching()
    assert :ok = ScopeBeam.unwatch(cart)
  end

  test "large states are cut, errors are plain" do
    {:ok, cart} = CartServer.start(owner: String.duplicate("x", 10_000))
    {:ok, _} = ScopeBeam.watch(cart, to: self(), max_state_bytes: 200)
    GenServer.call(cart, {:add, "a", 1})
    [{_, c}] = changes(1)
    assert byte_size(c.old_state) <= 200 and byte_size(c.new_state) <= 200
    assert {:error, :already_watched} = ScopeBeam.watch(cart, to: self())
    assert {:error, :noproc} = ScopeBeam.watch(:scope_beam_no_such_process, to: self())
    assert {:error, :not_attached} = ScopeBeam.watch(cart)
    assert {:error, {:unknown_option, :too}} = ScopeBeam.watch(cart, too: self())
    not_gen_server = spawn(fn -> receive do :never -> :ok end end)
    assert {:error, {:not_a_gen_server, _}} = ScopeBeam.watch(not_gen_server, to: self())
    GenServer.stop(cart)
  end

  test "through the forwarder: reports go on the wire, and stop when the forwarder stops" do
    {lsock, port} = ScopeBeam.FakeReceiver.listen()
    {:ok, _} = ScopeBeam.attach(port: port, sample_interval: :infinity)
    {sock, _} = ScopeBeam.FakeReceiver.accept(lsock)
    {:ok, cart} = CartServer.start()
    {:ok, _} = ScopeBeam.watch(cart)
    {:ok, 7} = GenServer.call(cart, {:add, "kiwi", 7})
    assert {:ok, {:scope_state_change, _, ^cart, %{kind: :call, seq: 1}}} = ScopeBeam.FakeReceiver.read(sock)

    :ok = ScopeBeam.detach()
    refute cart in ScopeBeam.Watch.watching()
    assert {:status, _, _, [_, _, _, [], _]} = :sys.get_status(cart)
    GenServer.stop(cart)
  end
end
