defmodule ScopeBeam.Forwarder.Cleanup do
  @moduledoc false
  # The forwarder's first child, so it stops last: removes the watches that
  # report to the forwarder and forgets its queue.

  use GenServer

  def start_link, do: GenServer.start_link(__MODULE__, nil)

  @impl true
  def init(nil) do
    Process.flag(:trap_exit, true)
    {:ok, nil}
  end

  @impl true
  def terminate(_reason, nil) do
    ScopeBeam.Watch.unwatch_forwarded()
    ScopeBeam.Forwarder.forget_queue()
  end
end
