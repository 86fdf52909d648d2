# Prints the non-ASCII code points Elixir's atom tokenizer (String.Tokenizer,
# what inspect/2 uses to decide whether an atom needs quotes) accepts in an
# identifier, as the compact range table embedded in src/beam/render_elixir.ts
# (IDENT_RANGES): "Gap,Length;" pairs in base 36, each gap counted from the
# end of the previous range.
#
#   elixir test/beam/etf/ident_ranges.exs
#
# test/beam/render_property.test.ts runs it and compares the output with the
# embedded table, so the table follows the installed Elixir.
accepted? = fn cp ->
  match?({_, _, [], _, _, _}, String.Tokenizer.tokenize([cp])) or
    match?({:identifier, _, [], _, _, _}, String.Tokenizer.tokenize([?_, cp]))
end

{ranges, _} =
  Enum.reduce(Enum.concat(0x80..0xD7FF, 0xE000..0x10FFFF), {[], nil}, fn cp, {acc, _} = state ->
    if accepted?.(cp) do
      case acc do
        [{s, e} | rest] when e == cp - 1 -> {[{s, cp} | rest], nil}
        _ -> {[{cp, cp} | acc], nil}
      end
    else
      state
    end
  end)

{text, _} =
  ranges
  |> Enum.reverse()
  |> Enum.reduce({[], 0}, fn {s, e}, {out, prev} ->
    {[out, Integer.to_string(s - prev, 36), ?,, Integer.to_string(e - s, 36), ?;], e}
  end)

IO.puts(IO.iodata_to_binary(text) |> String.downcase())
