; `op.drop_table(<table>, ...)` (scope: upgrade)
((call
   function: (attribute attribute: (identifier) @_method)
   arguments: (argument_list . (_) @table)) @call
 (#eq? @_method "drop_table")
 (#is-op? @call))
