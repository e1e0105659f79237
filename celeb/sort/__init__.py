"""Sort an album: file every photo under the people found in it.

``DEST/<person>/`` for each known person in a photo (a photo of two known
people goes in both), ``DEST/unknown/`` for a photo with a face the model
cannot name, ``DEST/no face/`` for a photo without a face. Photos are copied,
never moved: the album stays as it was.

Nothing is lost: the album (SRC) is only read, and it may not overlap DEST in
any way (the same folder, one inside the other, through links). Every folder
sort writes in is checked to be a real folder inside DEST (a link, to the album
or elsewhere, is refused); a copy takes its name atomically, never replacing a
file (another photo of that name gets a number); the only files ever removed
are copies sort made itself (recorded in the state file with their size and
time) that a regrouping left behind in ``DEST/unknown/``.

With an embeddings model the unknown faces of every run so far are grouped by
who they look like (``celeb.strangers``), and such a photo goes to
``DEST/unknown/group-01/`` ... for each group one of its unknown faces is in,
or ``DEST/unknown/others/`` for a face that fits no group. ``unknown/`` is
rebuilt at the end of every run, as new photos may change the groups.

A run is resumable: what each photo gave is recorded in
``DEST/.celeb-sort.json`` (written atomically every few photos and at the
end), and a photo whose path, size and modification time are recorded already
is not classified again (an unknown face's embedding is kept there too, as base64 float16, for
the grouping of later runs). ``DEST/sorted.csv`` lists every photo with the
folders it went to. A run holds a lock on DEST (where the system has ``flock``)
and starts by removing the temporary files a killed run left there.

One module per job (this package imports none of them; each is imported where it is used)::

    album.py           sort_photos: the album sorted into DEST (``python -m celeb sort``)
    report.py          what a photo gave and where it goes (SortedPhoto), the report, sorted.csv;
                       sorted_photo: a photo classified elsewhere (the Classify page's)
    places.py          check_places: may the album and DEST be used; the errors sort raises
    destination.py     Destination: the one place sort writes in, its lock, its copies
    resume.py          the state file (.celeb-sort.json) a rerun resumes from
    unknown_folder.py  unknown/ by groups of strangers: grouped (the app), filed (album.py)
    download.py        sorted_zip: the sorted photos as one zip (the Classify page's download)
"""
