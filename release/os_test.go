package release

import "os"

var openFile = os.Open
