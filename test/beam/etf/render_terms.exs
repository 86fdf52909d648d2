# Term generator for test/beam/render_property.test.ts: the same random and
# hand-picked terms as gen_terms.erl, plus Elixir-flavoured ones (structs,
# keyword lists, aliases, charlists, remote pids/ports/refs), each with both
# renderings the real runtime gives:
#
#   elixir --erl "+pc unicode" -pa GenTermsDir test/beam/etf/render_terms.exs Seed N OutFile
#
# (gen_terms.beam compiled into GenTermsDir; random terms as gen_terms makes
# them, every 20th wrapped with a remote pid, port or ref). Writes records
#
#   <<EncLen:32, Enc/binary, ErlLen:32, Erl/binary, ExLen:32, Ex/binary>>
#
# Enc = :erlang.term_to_binary(t), Erl = io_lib:format("~0tp", [t]) and
# Ex = inspect(t, limit: :infinity, printable_limit: :infinity, width: :infinity)
# (the one-line form: width 80, the default, would break long terms over
# lines). Prints `version=<Elixir version> records=<count>` and exits 0; any
# crash exits non-zero.

defmodule Shop.Item do
  defstruct [:name, :qty]
end

defmodule Shop.Cart do
  # Fields in the order of their map keys (atoms sort by name), as the
  # rendering prints them; see render_elixir.ts on field order.
  defstruct items: [], note: nil, owner: nil
end

defmodule RenderTerms.Oops do
  defexception [:message]
end

defmodule RenderTerms.Gen do
  def local_fun(0), do: fn -> :ok end
  def local_fun(1), do: fn x -> x end
  def closure(t), do: fn -> t end

  def remote(:pid, node, id, serial), do: from_ext(88, node, <<id::32, serial::32, 1::32>>)
  def remote(:port, node, id, _), do: from_ext(89, node, <<id::32, 1::32>>)
  def remote(:ref, node, a, b), do: from_ext(90, node, <<1::32, a::32, b::32, 7::32>>, 3)

  # A NEW_PID_EXT / NEW_PORT_EXT / NEWER_REFERENCE_EXT for another node.
  defp from_ext(tag, node, body, ref_words \\ nil) do
    name = Atom.to_string(node)
    node_atom = <<119, byte_size(name), name::binary>>

    case ref_words do
      nil -> :erlang.binary_to_term(<<131, tag, node_atom::binary, body::binary>>)
      n -> :erlang.binary_to_term(<<131, tag, n::16, node_atom::binary, body::binary>>)
    end
  end

  def edge do
    remote =
      for node <- [:cli@host, :"other@10.0.0.7"] do
        [remote(:pid, node, 98, 0), remote(:port, node, 7, 0), remote(:ref, node, 2, 3)]
      end
      |> List.flatten()

    binaries = [
      "", "hello world", "a\nb\tc\e\a\d\b\f\v\r", "\"quoted\"", "it's", "back\\slash", "\#{not interpolated}",
      "#", "#\{", "{#}", "a#b", "\0", "中文", "😀 emoji", "über", "é", "naïve café", "abc中😀", <<0xEF, 0xBB, 0xBF>>,
      <<0xEF, 0xBF, 0xBE>>, <<0xEF, 0xBF, 0xBE, 0xFF>>, "\u2028", <<0xF4, 0x8F, 0xBF, 0xBF>>, <<0xC2, 0x80>>, "e\u0301",
      <<252>>, <<"caf", 233>>, <<200, 201, 202>>, <<128>>, <<160>>, <<255, 254>>, <<1>>, <<0>>, <<7>>, <<127>>,
      <<"a", 7>>, <<27>>, <<"ok", 27, "[0m">>, <<0xED, 0xA0, 0x80>>, <<0xC0, 0x80>>, <<0xE0, 0x80, 0x80>>,
      String.duplicate("long text ", 300), String.duplicate("ü", 500) <> <<255>>, <<1::1>>, <<"abc", 5::3>>
    ]

    charlists = [
      'abc', 'hello world', 'a\nb', [7, 8, 9], [127], 'it\'s', '"q"', '\#{x}', [0], [955, 956], [252, 98],
      [0x1F600], [27, ?[, ?m], [32, 126], [31], [160, 255]
    ]

    keywords = [
      [a: 1, b: 2], [{:"a b", 1}], [{Foo, 1}], [{:"Elixir", 1}], [a: [b: [c: 1]]], [{nil, 1}, {true, 2}],
      [{:"::", 1}], [{:+, 1}], [{:foo?, 1}], [{:"foo@bar", 1}], [{:über, 1}], [{:"a\nb", 1}], [{:a, 1} | :b],
      [{:a, 1}, {:b, 2, 3}], [{"a", 1}]
    ]

    maps = [
      %{}, %{a: 1}, %{"k" => 1}, %{"k" => 1, a: 2}, %{Foo => 1}, %{nil => 1, true => 2}, %{1 => 2},
      %{{:a} => [1]}, Map.new(1..40, &{:"key#{&1}", &1}), Map.new(1..33, &{&1, &1}),
      Map.new(1..50, &{Integer.to_string(&1), %{&1 => [&1]}}), %{"a b": 1, "::": 2},
      %{__struct__: "not an atom", a: 1}, %{__exception__: true, message: "not a struct"}
    ]

    structs = [
      %Shop.Item{name: "apple", qty: 5}, %Shop.Item{}, %Shop.Cart{items: [%Shop.Item{name: "pear", qty: 3}], owner: "ada"},
      %RenderTerms.Oops{message: "boom"}, {:error, %Shop.Item{name: 'x', qty: 1.5}}
    ]

    floats = [
      1.0, 1.0e16, 1.0e15, 9.007199254740993e15, -1.0, 0.1, 1.5e300, 123456789.0, 1.0e-10, -0.0, 0.0, 2.5,
      1.0e100, 99999.0, 1.0e21, -123.0, 5.0e-324, 1.7976931348623157e308, 9007199254740992.0, 1.0e17
    ]

    atoms = [
      :ok, :Ok, :"hello world", Foo, Foo.Bar, :"Elixir.foo", :Elixir, :"Elixir.Elixir.X", :"Elixir.Foo.bar",
      nil, true, false, :"::", :+, :-, :%{}, :%, :{}, :<<>>, :..., :.., :., :"..//", :->, :"//", :"^^^", :<|>,
      :\\, :when, :in, :not, :and, :"not in", :foo@bar, :foo?, :foo!, :"foo?x", :"?", :_, :_x, :"1a", :"", :"a-b",
      :über, :Über, :é, :"e\u0301", :µ, :μ, :"aα", :"a中", :"中a", :"日本語", :"カタカナ", :"한국어", :"ab_中",
      :"Ωmega", :"Ω", :"❤", :"😀", :"a\nb", :"a'b", :"a\"b", :"a\\b", :"#\{x}", :"ª", :"ß", :"×"
    ]

    funs = [
      &Enum.map/2, &:lists.map/2, &Kernel.+/2, &:erlang.self/0, :erlang.make_fun(:"Elixir.Foo", :"bar baz", 0),
      :erlang.make_fun(Foo, :Bar, 1), :erlang.make_fun(:foo, :"::", 2), :erlang.make_fun(:foo, :%{}, 2),
      local_fun(0), local_fun(1), closure(self()), closure([1, 2])
    ]

    misc = [
      {:ok, self(), make_ref()}, {}, [], [1 | 2], [1, 2 | 3], ["a" | "b"], [[]], {:a, [b: {:c, %{d: 'e'}}]},
      [{:"$gen_call", {self(), make_ref()}, {:get, :key}}], {:EXIT, self(), :normal},
      remote, {:nested, remote, [remote]}, 12_345_678_901_234_567_890, -1
    ]

    binaries ++ charlists ++ keywords ++ maps ++ structs ++ floats ++ atoms ++ funs ++ misc ++ remote
  end
end

[seed, n, out] = System.argv()
seed = String.to_integer(seed)
:rand.seed(:exsss, {seed, seed * 7919 + 1, seed * 104_729 + 2})
env = :gen_terms.env()

remote = for node <- [:cli@host, :"other@10.0.0.7"], kind <- [:pid, :port, :ref], do: RenderTerms.Gen.remote(kind, node, 5, 1)

# Every 20th random term comes wrapped with a remote pid, port or ref.
random =
  for i <- 1..String.to_integer(n) do
    t = :gen_terms.gen(env, 4)
    if rem(i, 20) == 0, do: {Enum.random(remote), t}, else: t
  end

terms = :gen_terms.edge_cases(env) ++ RenderTerms.Gen.edge() ++ random

records =
  for t <- terms do
    enc = :erlang.term_to_binary(t)
    erl = :unicode.characters_to_binary(:io_lib.format('~0tp', [t]))
    ex = inspect(t, limit: :infinity, printable_limit: :infinity, width: :infinity)
    [<<byte_size(enc)::32>>, enc, <<byte_size(erl)::32>>, erl, <<byte_size(ex)::32>>, ex]
  end

:unicode = :io.printable_range()
File.write!(out, records)
IO.puts("version=#{System.version()} records=#{length(records)}")
