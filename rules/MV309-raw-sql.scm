; `op.execute(...)` (scope: upgrade)
((call
   function: (attribute attribute: (identifier) @_method)) @call
 (#eq? @_method "execute")
 (#is-op? @call))
