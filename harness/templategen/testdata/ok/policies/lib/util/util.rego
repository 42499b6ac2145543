package lib.util

import future.keywords.if
import future.keywords.in

allowed(name, names) if name in names
