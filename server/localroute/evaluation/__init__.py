"""``localroute eval``: which model is good enough to review code?

A corpus of short snippets with one seeded bug each (and clean controls) ships with the
package (:mod:`.corpus`); :mod:`.runner` reviews every snippet through each route entry the
user names, :mod:`.scoring` scores the answers and :mod:`.report` prints them. The one place
that calls the request pipeline is :mod:`.adapter`.
"""
