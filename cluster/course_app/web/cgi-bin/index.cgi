#!/bin/sh
# The web client's page ("/"): the welcome text (a file of the ConfigMap volume), the notes
# and the info, fetched from the API with the Secret's token, and a form to add a note.
. /course/lib.sh
html() { sed 's/&/\&amp;/g; s/</\&lt;/g; s/>/\&gt;/g'; }  # text -> HTML
api() { timeout 5 wget -qO- --header "Authorization: Bearer $API_TOKEN" "$API_URL/cgi-bin/$1" 2>&1; }
printf 'Content-Type: text/html; charset=utf-8\r\n\r\n'
cat <<PAGE
<!DOCTYPE html>
<html><head><title>course app</title></head><body>
<h1>$(html < /etc/course/welcome.txt)</h1>
<h2>Notes</h2><pre>$(api notes | html)</pre>
<form action="/cgi-bin/add"><input name="text"> <button>Add a note</button></form>
<h2>Info</h2><pre>$(api info | html)</pre>
<p>served by ${HOSTNAME:-$(hostname)}</p>
</body></html>
PAGE
