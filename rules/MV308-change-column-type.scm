; `op.alter_column(..., type_=<type>)` (scope: upgrade)
((call
   function: (attribute attribute: (identifier) @_method)
   arguments: (argument_list
     (keyword_argument name: (identifier) @_kwarg value: (_) @type))) @call
 (#eq? @_method "alter_column")
 (#eq? @_kwarg "type_")
 (#is-op? @call))
