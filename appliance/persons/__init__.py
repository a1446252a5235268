"""The person chain: one record per named person, found by keyed blind indexes, identity sealed
under the person's own key (whose vault share erasure destroys)."""
