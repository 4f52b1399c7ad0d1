; `op.alter_column(..., new_column_name=<new>)` (scope: upgrade)
((call
   function: (attribute attribute: (identifier) @_method)
   arguments: (argument_list
     (keyword_argument name: (identifier) @_kwarg value: (_) @new))) @call
 (#eq? @_method "alter_column")
 (#eq? @_kwarg "new_column_name")
 (#is-op? @call))
