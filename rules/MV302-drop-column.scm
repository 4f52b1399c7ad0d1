; `op.drop_column(<table>, <column>)` (scope: upgrade)
((call
   function: (attribute object: (identifier) @_receiver attribute: (identifier) @_method)
   arguments: (argument_list . (_) . (_) @column)) @call
 (#eq? @_method "drop_column")
 (#eq? @_receiver "op")
 (#is-op? @call))

; `batch_op.drop_column(<column>)` inside `with op.batch_alter_table(...) as batch_op:`
((call
   function: (attribute object: (identifier) @_receiver attribute: (identifier) @_method)
   arguments: (argument_list . (_) @column)) @call
 (#eq? @_method "drop_column")
 (#not-eq? @_receiver "op")
 (#is-op? @call))
