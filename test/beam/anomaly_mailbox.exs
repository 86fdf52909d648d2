# For test/beam/anomaly.test.ts: a slow consumer whose mailbox grows and a busy
# worker that keeps up, both fed 200 messages/s, sampled by ScopeBeam's process
# sampler every 500 ms. argv: Port. Prints "started <system time ns>"; runs until stdin closes.
[port] = System.argv()

defmodule SlowConsumer do
  use GenServer
  def init(_), do: {:ok, 0}
  def handle_info(:job, n) do
    Process.sleep(50)
    {:noreply, n + 1}
  end
end

defmodule BusyWorker do
  use GenServer
  def init(_), do: {:ok, 0}
  def handle_info(:job, n) do
    _ = Enum.sum(1..3000)
    {:noreply, n + 1}
  end
end

defmodule Feed do
  def loop(targets) do
    Enum.each(targets, &send(&1, :job))
    Process.sleep(5)
    loop(targets)
  end

  def wait(fun), do: if(fun.(), do: :ok, else: (Process.sleep(10); wait(fun)))
end

Logger.configure(level: :error)
{:ok, _} = ScopeBeam.attach(port: String.to_integer(port), app: :shop, handlers: [], sample_interval: 500, top_n: 5)
Feed.wait(fn -> ScopeBeam.stats().connected == true end)
{:ok, slow} = GenServer.start(SlowConsumer, nil, name: :slow_consumer)
{:ok, busy} = GenServer.start(BusyWorker, nil, name: :busy_worker)
IO.puts("started #{System.system_time(:nanosecond)}")
spawn(fn -> Feed.loop([slow, busy]) end)
IO.read(:stdio, :eof)
