defmodule ScopeBeam.CartServer do
  @moduledoc false
  # A plain GenServer for the watch/2 tests: a map state changed by calls,
  # casts, infos and a continue.
  use GenServer

  defstruct items: %{}, total: 0, owner: nil

  def start(opts \\ []), do: GenServer.start(__MODULE__, opts, Keyword.take(opts, [:name]))

  @impl true
  def init(opts), do: {:ok, %__MODULE__{owner: Keyword.get(opts, :owner, "ada")}}

  @impl true
  def handle_call({:add, item, price}, _from, s) do
    s = %{s | items: Map.put(s.items, item, price), total: s.total + price}
    {:reply, {:ok, s.total}, s}
  end

  def handle_call(:total, _from, s), do: {:reply, s.total, s}

  def handle_call({:add_then_audit, item, price}, _from, s) do
    {:reply, :ok, %{s | items: Map.put(s.items, item, price), total: s.total + price}, {:continue, :audit}}
  end

  @impl true
  def handle_continue(:audit, s), do: {:noreply, %{s | owner: s.owner <> " (audited)"}}

  @impl true
  def handle_cast(:clear, s), do: {:noreply, %{s | items: %{}, total: 0}}

  @impl true
  def handle_info({:discount, n}, s), do: {:noreply, %{s | total: s.total - n}}
end
