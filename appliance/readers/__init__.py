"""Each tenant's reader list: the signed chain of the staff who may read new reports, its
confirmations, and the notices readers get of every change."""
