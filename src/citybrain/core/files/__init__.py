"""Files stored by content hash and owned by an organisation (private unless shared or granted).

Later domains keep their uploads here (application materials, dataset files); a file is only ever
served as a download, never executed or rendered inline.
"""
