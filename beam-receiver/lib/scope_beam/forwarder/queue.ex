defmodule ScopeBeam.Forwarder.Queue do
  @moduledoc """
  The bounded hand-off between the processes that produce terms (telemetry
  handlers running in the application's own processes, the sampler, watched
  GenServers) and the sender that owns the socket.

  `offer/2` never blocks and never waits for a reply: it bumps an atomic
  counter of queued terms and sends the term to the sender's mailbox, or —
  when `max` terms are already waiting, or no sender is running — counts a
  drop and returns `:dropped`. The sender decrements the counter as it writes
  or drops terms, so the count is the mailbox plus the sender's own buffer.
  """

  @enforce_keys [:sender, :counters, :max]
  defstruct [:sender, :counters, :max]

  @type t :: %__MODULE__{sender: atom() | pid(), counters: :atomics.atomics_ref(), max: pos_integer()}

  # atomics slots: 1 = queued now; then the drop and send counters below.
  @queued 1
  @slots [queued: 1, sent: 2, queue_full: 3, no_sender: 4, send_failed: 5, handler_error: 6, not_connected: 7]
  @drop_reasons [:queue_full, :no_sender, :send_failed, :handler_error, :not_connected]

  @doc "A queue in front of `sender` (a registered name or pid) holding at most `max` terms."
  @spec new(atom() | pid(), pos_integer()) :: t()
  def new(sender, max) when is_integer(max) and max > 0 do
    %__MODULE__{sender: sender, counters: :atomics.new(length(@slots), signed: true), max: max}
  end

  @doc "Hands `term` to the sender without waiting: `:ok`, or `:dropped` (counted)."
  @spec offer(t(), term()) :: :ok | :dropped
  def offer(%__MODULE__{sender: sender, counters: c, max: max}, term) do
    if :atomics.add_get(c, @queued, 1) > max do
      :atomics.sub(c, @queued, 1)
      count(c, :queue_full, 1)
      :dropped
    else
      case whereis(sender) do
        nil ->
          :atomics.sub(c, @queued, 1)
          count(c, :no_sender, 1)
          :dropped

        pid ->
          send(pid, {:scope_beam_term, term})
          :ok
      end
    end
  end

  defp whereis(pid) when is_pid(pid), do: pid
  defp whereis(name), do: Process.whereis(name)

  @doc false
  # The sender took `n` terms off the queue (written or dropped).
  def taken(%__MODULE__{counters: c}, n), do: :atomics.sub(c, @queued, n)

  @doc false
  def reset_queued(%__MODULE__{counters: c}), do: :atomics.exchange(c, @queued, 0)

  @doc false
  def count(%__MODULE__{counters: c}, what, n), do: count(c, what, n)
  def count(c, what, n), do: :atomics.add(c, Keyword.fetch!(@slots, what), n)

  @doc "Terms waiting now, terms sent, and drops by reason since the queue was made."
  @spec stats(t()) :: %{queued: integer(), sent: integer(), dropped: %{atom() => integer()}}
  def stats(%__MODULE__{counters: c}) do
    %{
      queued: max(:atomics.get(c, @queued), 0),
      sent: :atomics.get(c, @slots[:sent]),
      dropped: Map.new(@drop_reasons, fn r -> {r, :atomics.get(c, @slots[r])} end)
    }
  end
end
