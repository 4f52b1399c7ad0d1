; `op.rename_table(<old>, <new>)` (scope: upgrade)
((call
   function: (attribute attribute: (identifier) @_method)
   arguments: (argument_list . (_) @old . (_) @new)) @call
 (#eq? @_method "rename_table")
 (#is-op? @call))
